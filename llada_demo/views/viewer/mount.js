/* How a page puts the views together: one live view per page (its charts, placed elsewhere on the page,
 * find it through the registry), other live views (Compare's A and B, the Reversal's four) with their
 * own heatmaps, the tabs' views, and a standalone export with the whole run in it. */
(function (L) {
  "use strict";
  const registry = {live: null, charts: [], links: {}};

  /* The page's live view (registered; the charts of the page draw its run), or with options.prefix
   * another one, which draws only its own heatmap, in the element options.charts if given;
   * options.link scrubs it with the views mounted with the same link name. */
  function mountLive(root, options = {}) {
    const live = new L.Live(root, options);
    if (!options.prefix) {
      registry.live = live;
      live.charts = registry.charts;
    } else if (options.charts) {
      live.charts = [new L.Charts(options.charts, {prefix: options.prefix, heatmapOnly: true, height: 240})];
    }
    if (options.link) {
      const group = (registry.links[options.link] = registry.links[options.link] || []);
      for (const other of group) { other.linked.push(live); live.linked.push(other); }
      group.push(live);
    }
    return live;
  }
  function mountCharts(root) {
    const charts = new L.Charts(root);
    registry.charts.push(charts);
    return charts;
  }
  /* A standalone page: the whole run is in the page. */
  function standalone(liveRoot, chartsRoot, messages) {
    const live = new L.Live(liveRoot);
    live.charts = [new L.Charts(chartsRoot)];
    live.load(messages);
    return live;
  }

  Object.assign(L, {registry, mountLive, mountCharts, standalone, mountForward: (root) => new L.ForwardView(root),
                    mountLikelihood: (root) => new L.LikelihoodView(root),
                    mountCurves: (root) => new L.CurvesView(root)});
})(window.LladaView = window.LladaView || {});
