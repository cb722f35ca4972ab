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

// The admin console (app/web/spa/js/views/admin.js): every field it shows, every action it takes.
export const ADMIN_OVERVIEW = `query AdminOverview {
  health { name ok detail fix }
  stats {
    totalMovies moviesWithEmbeddings currentEmbeddings staleEmbeddings missingEmbeddings coveragePercentage
    thinMovies passages model dimension
    index { method operatorClass valid sizeBytes parameters { name value } }
  }
  embeddingRuns(limit: 12) { id status trigger full startedAt finishedAt embedded skipped failed error }
  recommenderModels(limit: 12) {
    id method status active previous trigger startedAt finishedAt ratings users movies weights seconds peakRssMb error
  }
}`;

export const ADMIN_JOB = `query AdminJob($id: ID!) {
  refreshJob(id: $id) { id status run { id status embedded failed startedAt finishedAt } }
}`;

export const ADMIN_LATEST_RUN = `query AdminLatestRun { embeddingRuns(limit: 1) { id status embedded } }`;

export const ADMIN_REFRESH = `mutation AdminRefresh($full: Boolean!) {
  refreshEmbeddings(full: $full) { id status run { id status embedded } }
}`;

export const ADMIN_REBUILD_INDEX = `mutation AdminRebuildIndex { rebuildVectorIndex { id status } }`;

export const ADMIN_TRAIN = `mutation AdminTrain { trainRecommender { id status } }`;

export const ADMIN_ROLLBACK = `mutation AdminRollback { rollbackRecommender { id method } }`;

const ADMIN_MOVIE_FIELDS = `id title year overview genres keywords cast director voteAverage voteSource
  hasEmbedding embeddingCurrent embeddedAt`;

export const ADMIN_FIND = `query AdminFind($search: String!) {
  movies(search: $search, first: 8) { nodes { ${ADMIN_MOVIE_FIELDS} } }
}`;

export const ADMIN_MOVIE = `query AdminMovie($id: ID!) { movie(id: $id) { ${ADMIN_MOVIE_FIELDS} } }`;

export const ADMIN_SAVE_MOVIE = `mutation AdminSaveMovie($input: MovieInput!) {
  upsertMovie(input: $input) { ${ADMIN_MOVIE_FIELDS} }
}`;

export const ADMIN_TRAINING_JOB = `query AdminTrainingJob($id: ID!) {
  trainingJob(id: $id) { id status model { id status seconds ratings } }
}`;
