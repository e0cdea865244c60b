/*
 * regflow confirmed page: one message per outcome of a verification link, read from ?status=
 * (confirmed, already-confirmed, expired, invalid; the values of regflow.domain.Outcome).
 * Texts are set with textContent only: nothing from the URL ever becomes markup.
 */
(function () {
  "use strict";

  var OUTCOMES = {
    confirmed: {
      kind: "success",
      title: "You're confirmed",
      message: "Thank you! Your email address is confirmed and your registration is complete.",
      link: "Back to the start page",
    },
    "already-confirmed": {
      kind: "success",
      title: "Already confirmed",
      message: "This email address was already confirmed. There is nothing more to do.",
      link: "Back to the start page",
    },
    expired: {
      kind: "warning",
      title: "This link has expired",
      message:
        "Confirmation links are only valid for a limited time. Please register again " +
        "to get a new link.",
      link: "Register again",
    },
    invalid: {
      kind: "error",
      title: "This link is not valid",
      message:
        "We could not use this confirmation link. Make sure you opened the whole link " +
        "from your email, or register again to get a new one.",
      link: "Register again",
    },
  };
  var UNKNOWN = {
    kind: "unknown",
    title: "Email confirmation",
    message:
      "We could not tell the result of this confirmation link. Please open the link from " +
      "your email again, or register again if it has expired.",
    link: "Back to registration",
  };

  var status = new URLSearchParams(window.location.search).get("status");
  var outcome = Object.prototype.hasOwnProperty.call(OUTCOMES, status) ? OUTCOMES[status] : UNKNOWN;

  var main = document.getElementById("outcome");
  var title = document.getElementById("outcome-title");
  var message = document.getElementById("outcome-message");
  var back = document.getElementById("back-link");
  if (!main || !title || !message) return;

  main.setAttribute("data-status", outcome === UNKNOWN ? "unknown" : status);
  main.classList.add("outcome--" + outcome.kind);
  title.textContent = outcome.title;
  message.textContent = outcome.message;
  if (back) back.textContent = outcome.link;
  document.title = outcome.title;
})();
