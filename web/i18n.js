/*
 * regflow pages' words: shared by the registration page (app.js) and the confirmed page
 * (confirmed.js), loaded before them.
 *
 * Every message comes from the catalog of the page's language, i18n/<lang>.json (the `web.*`
 * keys of src/regflow/render/catalog/<lang>.json), fetched relative to the page like
 * styles.css. <lang>: the `lang` query parameter if supported (the server's redirects carry it),
 * else the first supported of the browser's languages, else English. Until (or unless) the
 * catalog loads, the English the page itself carries is used: the texts marked data-i18n, and
 * <template id="i18n-fallback">. Texts are set with textContent only: nothing becomes markup.
 */
(function () {
  "use strict";

  var SUPPORTED_LANGUAGES = ["en", "de", "es", "fr"];
  var CATALOG_TIMEOUT_MS = 5000;
  var messages = {};
  var own = Object.prototype.hasOwnProperty;

  function supported(tag) {
    if (typeof tag !== "string") return null;
    var primary = tag.trim().split(/[-_]/)[0].toLowerCase();
    return SUPPORTED_LANGUAGES.indexOf(primary) === -1 ? null : primary;
  }

  function pickLanguage() {
    var asked = supported(new URLSearchParams(window.location.search).get("lang"));
    if (asked) return asked;
    var preferred = navigator.languages && navigator.languages.length
      ? navigator.languages
      : [navigator.language];
    for (var i = 0; i < preferred.length; i++) {
      var found = supported(preferred[i]);
      if (found) return found;
    }
    return "en";
  }

  function collect(root) {
    var nodes = root.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) {
      messages[nodes[i].getAttribute("data-i18n")] = nodes[i].textContent.trim().replace(/\s+/g, " ");
    }
  }

  // The English the page carries: its data-i18n texts and <template id="i18n-fallback">.
  function collectFallback() {
    collect(document);
    var fallback = document.getElementById("i18n-fallback");
    if (fallback && fallback.content) collect(fallback.content);
  }

  // The message `key`, its {placeholders} filled from `params`.
  function msg(key, params) {
    var text = own.call(messages, key) ? messages[key] : key;
    return text.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, function (whole, name) {
      return params && own.call(params, name) ? String(params[name]) : whole;
    });
  }

  function translatePage() {
    var nodes = document.querySelectorAll("[data-i18n]");
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-i18n");
      if (own.call(messages, key)) nodes[i].textContent = messages[key];
    }
  }

  // The site's name (SITE_NAME, served with the words as web.site_name) ends the title.
  var siteName = "";

  function setTitle(text) {
    document.title = siteName ? text + " - " + siteName : text;
  }

  // Resolves true once the catalog of `lang` is in use (the page translated), false if the
  // page stays in English.
  function loadCatalog(lang) {
    if (typeof window.fetch !== "function") return Promise.resolve(false);
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller
      ? window.setTimeout(function () {
          controller.abort();
        }, CATALOG_TIMEOUT_MS)
      : null;
    return fetch("i18n/" + lang + ".json", {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (catalog) {
        if (!catalog || typeof catalog !== "object") return false;
        Object.keys(catalog).forEach(function (key) {
          if (key.indexOf("web.") === 0 && typeof catalog[key] === "string") {
            messages[key] = catalog[key];
          }
        });
        document.documentElement.lang = lang;
        translatePage();
        var site = catalog["web.site_name"];
        if (typeof site === "string" && site.trim()) {
          siteName = site.trim();
          setTitle(document.title);
        }
        return true;
      })
      .catch(function () {
        return false;
      })
      .then(function (loaded) {
        if (timer) window.clearTimeout(timer);
        return loaded;
      });
  }

  window.regflowWords = {
    pickLanguage: pickLanguage,
    collectFallback: collectFallback,
    msg: msg,
    loadCatalog: loadCatalog,
    setTitle: setTitle,
  };
})();
