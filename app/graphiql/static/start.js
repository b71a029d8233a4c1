// GraphiQL on this server's own copy of React and GraphiQL (vendor/): nothing is fetched from
// elsewhere. Requests go to /graphql with the dashboard's session cookie (same origin), or with
// an Authorization header typed into the Headers tab; headers are not kept in the browser.
(function () {
  "use strict";
  var endpoint = new URL("graphql", document.baseURI);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var parameters = new URLSearchParams(location.search);

  var fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: socket.href,
  });

  function remember(key) {
    return function (value) {
      var next = new URLSearchParams(location.search);
      if (value) next.set(key, value);
      else next.delete(key);
      history.replaceState(null, "", "?" + next.toString());
    };
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: "# CouchQueue's GraphQL API. Ctrl-Enter runs the query.\n{\n  status {\n    queues\n    workers\n  }\n}\n",
      query: parameters.get("q") || undefined,
      variables: parameters.get("variables") || undefined,
      onEditQuery: remember("q"),
      onEditVariables: remember("variables"),
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
