/*
 * regflow confirmed page: one message per outcome of a verification link, read from ?status=
 * (confirmed, already-confirmed, expired, invalid; the values of regflow.domain.Outcome).
 * Texts are set with textContent only: nothing from the URL ever becomes markup.
 *
 * Words come from the catalog of the page's language, i18n/<lang>.json (the `web.*` keys of
 * src/regflow/render/catalog/<lang>.json), fetched relative to this page like styles.css.
 * <lang>: the `lang` query parameter if supported (the server's redirect carries it), else the
 * first supported of the browser's languages, else English. Until (or unless) the catalog
 * loads, the English the page itself carries is used (data-i18n texts and the
 * <template id="i18n-fallback">).
 */
(function () {
  "use strict";

  var SUPPORTED_LANGUAGES = ["en", "de", "fr", "es"];
  var CATALOG_TIMEOUT_MS = 5000;
  var messages = {};

  var OUTCOMES = {
    confirmed: {
      kind: "success",
      title: "web.confirmed.confirmed.title",
      message: "web.confirmed.confirmed.message",
      link: "web.confirmed.confirmed.link",
    },
    "already-confirmed": {
      kind: "success",
      title: "web.confirmed.already_confirmed.title",
      message: "web.confirmed.already_confirmed.message",
      link: "web.confirmed.already_confirmed.link",
    },
    expired: {
      kind: "warning",
      title: "web.confirmed.expired.title",
      message: "web.confirmed.expired.message",
      link: "web.confirmed.expired.link",
    },
    invalid: {
      kind: "error",
      title: "web.confirmed.invalid.title",
      message: "web.confirmed.invalid.message",
      link: "web.confirmed.invalid.link",
    },
  };
  var UNKNOWN = {
    kind: "unknown",
    title: "web.confirmed.unknown.title",
    message: "web.confirmed.unknown.message",
    link: "web.confirmed.unknown.link",
  };

  function supported(tag) {
    if (typeof tag !== "string") return null;
    var primary = tag.trim().split(/[-_]/)[0].toLowerCase();
    return SUPPORTED_LANGUAGES.indexOf(primary) === -1 ? null : primary;
  }

  function pickLanguage(params) {
    var asked = supported(params.get("lang"));
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

  function msg(key) {
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  }

  // Resolves true once the catalog of `lang` is in use, false if the page stays in English.
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

  var params = new URLSearchParams(window.location.search);
  var status = params.get("status");
  var outcome = Object.prototype.hasOwnProperty.call(OUTCOMES, status) ? OUTCOMES[status] : UNKNOWN;

  var main = document.getElementById("outcome");
  var title = document.getElementById("outcome-title");
  var message = document.getElementById("outcome-message");
  var back = document.getElementById("back-link");
  if (!main || !title || !message) return;

  function show() {
    title.textContent = msg(outcome.title);
    message.textContent = msg(outcome.message);
    if (back) back.textContent = msg(outcome.link);
    document.title = msg(outcome.title);
  }

  collect(document);
  var fallback = document.getElementById("i18n-fallback");
  if (fallback && fallback.content) collect(fallback.content);

  main.setAttribute("data-status", outcome === UNKNOWN ? "unknown" : status);
  main.classList.add("outcome--" + outcome.kind);
  show(); // English at once; the page's language as soon as its catalog is in
  loadCatalog(pickLanguage(params)).then(function (loaded) {
    if (loaded) show();
  });
})();
