// The archive's only script. Without it every page still works: the quick exit is a plain
// link, and the search field stays hidden.
(function () {
  "use strict";

  // Quick exit: leave for the neutral site and replace this page's history entry, so the
  // Back button does not lead here.
  function leave(url) {
    document.title = "";
    document.body.style.visibility = "hidden";
    window.location.replace(url);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-quick-exit]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    leave(link.href);
  });

  // Three presses of Escape within two seconds leave too.
  var presses = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var now = Date.now();
    presses = presses.filter(function (t) { return now - t < 2000; });
    presses.push(now);
    if (presses.length >= 3) {
      var link = document.querySelector("a[data-quick-exit]");
      if (link) leave(link.href);
    }
  });

  // Search: Pagefind's index in pagefind/, beside this script, read in the browser alone.
  // Each year has its own bundle (pagefind/<year>/, listed newest first in
  // pagefind/bundles.json): the newest is loaded and the others merged into it, so one
  // search covers every year.
  var box = document.querySelector("[data-search]");
  if (!box) return;
  var form = box.querySelector("form");
  var field = box.querySelector("input");
  var status = box.querySelector("[data-search-status]");
  var list = box.querySelector("[data-search-results]");
  var root = new URL(".", document.currentScript ? document.currentScript.src : document.baseURI);
  var index = new URL("pagefind/", root);
  var engine = null;

  function load() {
    if (!engine) {
      engine = fetch(new URL("bundles.json", index).href).then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      }).then(function (bundles) {
        if (!bundles.length) return null;  // no issue yet: nothing to find
        var options = { baseUrl: root.pathname };
        return import(new URL(bundles[0] + "/pagefind.js", index).href).then(function (pagefind) {
          return pagefind.options(options).then(function () {
            return Promise.all(bundles.slice(1).map(function (bundle) {
              return pagefind.mergeIndex(new URL(bundle + "/", index).href, options);
            }));
          }).then(function () { return pagefind; });
        });
      });
      engine.catch(function () { engine = null; });  // try again on the next search
    }
    return engine;
  }

  function hit(title, url, excerpt) {
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = url;
    link.textContent = title;
    var text = document.createElement("p");
    // Pagefind's excerpt is the page's own escaped text with <mark> around the hits.
    text.innerHTML = excerpt;
    item.appendChild(link);
    item.appendChild(text);
    return item;
  }

  function show(query) {
    list.textContent = "";
    if (!query.trim()) { status.textContent = ""; return; }
    status.textContent = "Söker …";
    load().then(function (pagefind) {
      return pagefind ? pagefind.search(query) : { results: [] };
    }).then(function (search) {
      return Promise.all(search.results.slice(0, 10).map(function (r) { return r.data(); }));
    }).then(function (pages) {
      var count = 0;
      pages.forEach(function (page) {
        var subs = page.sub_results && page.sub_results.length ? page.sub_results : [page];
        subs.slice(0, 3).forEach(function (sub) {
          var title = sub === page ? page.meta.title : sub.title + " (" + page.meta.title + ")";
          list.appendChild(hit(title, sub.url, sub.excerpt));
          count += 1;
        });
      });
      status.textContent = count === 0 ? "Inga träffar på " + query + "."
        : count === 1 ? "En träff." : count + " träffar.";
    }).catch(function () {
      status.textContent = "Sökningen fungerar inte just nu.";
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    show(field.value);
  });
  box.hidden = false;
})();
