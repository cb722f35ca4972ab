// GraphiQL for movierec: the explorer plugin, the headers editor open, and the web app's token
// (if you signed in there) filled in, so authenticated operations work straight away.
(function () {
  "use strict";

  const TOKEN_KEY = "movierec.token"; // the key the web app (static/js/session.js) stores it under

  const EXAMPLE_QUERY = `# movierec's GraphQL API: run with Ctrl-Enter or ▶.
#
# Operations for a user (recommendations, viewer,
# rateMovie, ...) need a token in the Headers tab:
#   {"Authorization": "Bearer <token>"}
# \`make run\` prints a demo token; signing in on
# the web app (/) fills it in here for you.

query SimilarToInception {
  similarMovies(movieId: 1, limit: 5) {
    strategy
    items {
      rank
      similarity
      movie { id title year genres director }
    }
  }
}
`;

  function storedToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  const token = storedToken();
  const initialHeaders = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : "";
  const fetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function App() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: EXAMPLE_QUERY,
      headers: initialHeaders || undefined,
      defaultEditorToolsVisibility: "headers",
      plugins: [explorer],
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
