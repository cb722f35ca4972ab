// Every GraphQL document the app sends, named, in one place (as the server keeps its SQL).

const MOVIE_CARD = `fragment MovieCard on Movie { id title year genres director ratingCount }`;

export const SEARCH_MOVIES = `${MOVIE_CARD}
query SearchMovies($query: String!, $limit: Int!, $offset: Int!, $filter: MovieFilter) {
  searchMovies(query: $query, limit: $limit, offset: $offset, filter: $filter) {
    hasMore usedMeaning
    items { rank similarity matchedBy exactTitle movie { ...MovieCard } }
  }
}`;

export const GENRES = `query Genres { genres(limit: 40) { name movies } }`;

export const MOVIE_PAGE = `${MOVIE_CARD}
query MoviePage($id: ID!, $limit: Int!) {
  movie(id: $id) {
    ...MovieCard overview cast keywords voteAverage voteCount hasEmbedding
    alsoLiked(limit: $limit) { weight movie { ...MovieCard } }
  }
  similarMovies(movieId: $id, limit: $limit) { items { similarity movie { ...MovieCard } } }
}`;

export const RECOMMENDATIONS = `${MOVIE_CARD}
query ForYou($limit: Int!, $diversity: Float!) {
  recommendations(limit: $limit, diversity: $diversity) {
    strategy
    items { rank score similarity popularity movie { ...MovieCard overview } }
  }
}`;

export const EXPLAIN = `query Why($movieId: ID!) {
  explainRecommendation(movieId: $movieId) {
    strategy text score
    peopleAlsoLiked { yourRating contribution movie { id title year } }
    similarToYourFavorites { yourRating similarity movie { id title year } }
    breakdown { collaborative collaborativeWeight similarity contentWeight popularity popularityWeight score }
  }
}`;

export const STATS = `query Stats {
  stats {
    totalMovies moviesWithEmbeddings currentEmbeddings coveragePercentage users ratings model dimension
    index { method operatorClass valid sizeBytes parameters { name value } }
    lastRun { id status trigger startedAt finishedAt embedded failed }
  }
}`;

export const VIEWER = `query Viewer {
  viewer { id name ratings { movieId rating ratedAt movie { id title year } } }
}`;

export const DEMO_USERS = `query DemoUsers { demoUsers { id name ratingCount } }`;

export const SIGN_IN_AS_DEMO_USER = `mutation SignIn($userId: ID!) {
  signInAsDemoUser(userId: $userId) { token expiresAt user { id name } }
}`;

export const RATE_MOVIE = `mutation Rate($movieId: ID!, $rating: Float!) {
  rateMovie(movieId: $movieId, rating: $rating) { movieId rating ratedAt movie { id title year } }
}`;

export const REMOVE_RATING = `mutation Unrate($movieId: ID!) { removeRating(movieId: $movieId) }`;
