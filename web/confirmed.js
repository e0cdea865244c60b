/*
 * regflow confirmed page: one message per outcome of a verification link, read from ?status=
 * (confirmed, already-confirmed, expired, invalid; the values of regflow.domain.Outcome).
 * Texts are set with textContent only: nothing from the URL ever becomes markup.
 *
 * Words: web/i18n.js (loaded first), in the link's language (`lang`, which the server's
 * redirect carries) or the browser's.
 */
(function () {
  "use strict";

  var words = window.regflowWords;
  var msg = words.msg;

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
    resent: {
      kind: "success",
      title: "web.signup.resent.title",
      message: "web.signup.resent.message",
      link: "web.signup.resent.link",
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
    words.setTitle(msg(outcome.title)); // with the site's name, once it is known
  }

  words.collectFallback();

  // An expired link: its token came in the fragment (#resend=<token>); offer a new link.
  var resendForm = document.getElementById("resend-form");
  var resendToken = /^#resend=([A-Za-z0-9_-]{64})$/.exec(window.location.hash || "");
  if (window.location.hash && window.history && window.history.replaceState) {
    // out of the address bar and the history: the token is kept in the form only
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (status === "expired" && resendForm && resendToken) {
    resendForm.elements.namedItem("token").value = resendToken[1];
    resendForm.elements.namedItem("lang").value = words.pickLanguage();
    resendForm.hidden = false;
  }

  main.setAttribute("data-status", outcome === UNKNOWN ? "unknown" : status);
  main.classList.add("outcome--" + outcome.kind);
  show(); // English at once; the page's language as soon as its catalog is in
  words.loadCatalog(words.pickLanguage()).then(function (loaded) {
    if (loaded) show();
  });
})();
