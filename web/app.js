/*
 * regflow registration page.
 *
 * The form works without this script (a plain form post to /register, answered with a 303 back
 * to this page with ?status=...). With it, the page checks the fields first (the same rules as
 * src/regflow/validation.py), POSTs JSON, and shows the answer without leaving the page.
 * Every text shown is set with textContent; nothing here builds HTML.
 */
(function () {
  "use strict";

  var NAME_MAX = 100;
  var EMAIL_MAX = 254;
  var REQUEST_TIMEOUT_MS = 15000;

  var MESSAGES = {
    sent:
      "Thanks! If this address can receive mail, a verification link is on its way. " +
      "Please check your inbox.",
    fixField: "Please correct the highlighted field and try again.",
    nameMissing: "Please enter your name.",
    nameTooLong: "Your name can be at most " + NAME_MAX + " characters long.",
    nameBadChars: "Your name contains characters that are not allowed.",
    nameLink: "Your name cannot contain a web address.",
    emailMissing: "Please enter your email address.",
    emailTooLong: "An email address can be at most " + EMAIL_MAX + " characters long.",
    emailInvalid: "Please enter a valid email address, like name@example.com.",
    nameRejected: "Please check your name and try again.",
    emailRejected: "Please check your email address and try again.",
    badRequest: "Your registration could not be sent. Please check the form and try again.",
    rateLimited: "Too many sign-ups from your network.",
    busy: "We are busy right now. Please try again in a minute.",
    serverError: "Something went wrong on our side. Please try again later.",
    network: "We could not reach the server. Please check your connection and try again.",
    timeout: "The server took too long to answer. Please try again.",
  };

  // --- the server's rules, mirrored (the server has the last word) ------------------------

  // Control characters (Cc) and the line/paragraph separators (Zl, Zp), as in validation.py.
  var FORBIDDEN_NAME_CHARS = /[\p{Cc}\p{Zl}\p{Zp}]/u;
  // A web address in a name would be mailed, as text, to whatever address was typed.
  var LINKISH = /:\/\/|www\./i;
  // Dot-atom local part, ASCII only (no quoted strings, no empty atoms), as the server.
  var LOCAL_PART = /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+)*$/;
  // One domain label: letters and digits of any script, inner hyphens, at most 63 characters.
  var DOMAIN_LABEL = /^[\p{L}\p{N}\p{M}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?$/u;

  function codePointLength(text) {
    return Array.from(text).length;
  }

  function checkName(value) {
    var name = value.trim();
    if (!name) return MESSAGES.nameMissing;
    if (codePointLength(name) > NAME_MAX) return MESSAGES.nameTooLong;
    if (FORBIDDEN_NAME_CHARS.test(name)) return MESSAGES.nameBadChars;
    if (LINKISH.test(name)) return MESSAGES.nameLink;
    return null;
  }

  function checkEmail(value) {
    var email = value.trim();
    if (!email) return MESSAGES.emailMissing;
    if (codePointLength(email) > EMAIL_MAX) return MESSAGES.emailTooLong;
    var at = email.lastIndexOf("@");
    if (at < 1 || at === email.length - 1) return MESSAGES.emailInvalid;
    var local = email.slice(0, at);
    var domain = email.slice(at + 1);
    if (codePointLength(local) > 64 || !LOCAL_PART.test(local)) return MESSAGES.emailInvalid;
    if (domain.length > 253) return MESSAGES.emailInvalid;
    var labels = domain.split(".");
    if (labels.length < 2) return MESSAGES.emailInvalid;
    for (var i = 0; i < labels.length; i++) {
      if (!DOMAIN_LABEL.test(labels[i])) return MESSAGES.emailInvalid;
    }
    if (/^[0-9]+$/.test(labels[labels.length - 1])) return MESSAGES.emailInvalid;
    return null;
  }

  // --- page wiring --------------------------------------------------------------------------

  var form = document.getElementById("register-form");
  if (!form) return;
  var statusBox = document.getElementById("form-status");
  var button = document.getElementById("submit-button");
  var buttonLabel = button.textContent;
  var fields = {
    name: { input: form.elements.namedItem("name"), error: document.getElementById("name-error") },
    email: {
      input: form.elements.namedItem("email"),
      error: document.getElementById("email-error"),
    },
  };
  var honeypot = form.elements.namedItem("website");

  // The script does the checks and shows its own messages next to the fields.
  form.noValidate = true;

  function apiEndpoint() {
    var meta = document.querySelector('meta[name="regflow-api-base"]');
    var base = form.getAttribute("data-api-base") || (meta && meta.getAttribute("content")) || "";
    if (base) return base.replace(/\/+$/, "") + "/register";
    return form.action; // the form's own action: /register on this origin
  }

  function showStatus(kind, text) {
    statusBox.className = "status" + (kind ? " status--" + kind : "");
    statusBox.textContent = text || "";
  }

  function setFieldError(key, text) {
    var field = fields[key];
    if (!field) return false;
    if (text) {
      field.error.textContent = text;
      field.error.hidden = false;
      field.input.setAttribute("aria-invalid", "true");
    } else {
      field.error.textContent = "";
      field.error.hidden = true;
      field.input.removeAttribute("aria-invalid");
    }
    return true;
  }

  function clearErrors() {
    setFieldError("name", null);
    setFieldError("email", null);
  }

  function setBusy(busy) {
    button.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
    button.textContent = busy ? "Sending\u2026" : buttonLabel;
  }

  function retryText(header) {
    var seconds = parseInt(header || "", 10);
    if (!(seconds > 0)) return " Please try again later.";
    if (seconds < 90) return " Please try again in a minute.";
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 90) return " Please try again in " + minutes + " minutes.";
    return " Please try again in " + Math.ceil(minutes / 60) + " hours.";
  }

  function readJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("json") === -1) return Promise.resolve(null);
    return response.json().catch(function () {
      return null;
    });
  }

  function serverMessage(payload, fallback) {
    return payload && typeof payload.error === "string" && payload.error ? payload.error : fallback;
  }

  function handleResponse(response, payload) {
    var status = response.status;
    if (status >= 200 && status < 300) {
      form.reset();
      var text = payload && typeof payload.message === "string" ? payload.message : MESSAGES.sent;
      showStatus("success", text);
      return;
    }
    if (status === 400 && payload && fields[payload.field]) {
      setFieldError(payload.field, serverMessage(payload, MESSAGES.badRequest));
      showStatus("error", MESSAGES.fixField);
      fields[payload.field].input.focus();
      return;
    }
    if (status === 429) {
      showStatus("error", MESSAGES.rateLimited + retryText(response.headers.get("Retry-After")));
      return;
    }
    if (status === 503) {
      showStatus("error", MESSAGES.busy);
      return;
    }
    if (status >= 500) {
      showStatus("error", MESSAGES.serverError);
      return;
    }
    showStatus("error", serverMessage(payload, MESSAGES.badRequest));
  }

  function submit(event) {
    event.preventDefault();
    if (button.disabled) return;
    clearErrors();
    showStatus(null, "");

    var problems = {
      name: checkName(fields.name.input.value),
      email: checkEmail(fields.email.input.value),
    };
    var first = null;
    ["name", "email"].forEach(function (key) {
      if (problems[key]) {
        setFieldError(key, problems[key]);
        if (!first) first = key;
      }
    });
    if (first) {
      showStatus("error", MESSAGES.fixField);
      fields[first].input.focus();
      return;
    }

    var body = JSON.stringify({
      name: fields.name.input.value.trim(),
      email: fields.email.input.value.trim(),
      website: honeypot ? honeypot.value : "",
    });
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller
      ? window.setTimeout(function () {
          controller.abort();
        }, REQUEST_TIMEOUT_MS)
      : null;

    setBusy(true);
    fetch(apiEndpoint(), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body,
      credentials: "omit",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return readJson(response).then(function (payload) {
          handleResponse(response, payload);
        });
      })
      .catch(function (err) {
        showStatus("error", err && err.name === "AbortError" ? MESSAGES.timeout : MESSAGES.network);
      })
      .then(function () {
        if (timer) window.clearTimeout(timer);
        setBusy(false);
      });
  }

  function clearOnInput(key) {
    fields[key].input.addEventListener("input", function () {
      if (fields[key].input.getAttribute("aria-invalid") === "true") setFieldError(key, null);
    });
  }

  // --- the answer to a plain form post (?status=sent, ?status=error&field=...) -------------

  function showQueryStatus() {
    var params = new URLSearchParams(window.location.search);
    var status = params.get("status");
    if (status === "sent") {
      showStatus("success", MESSAGES.sent);
    } else if (status === "error") {
      var field = params.get("field");
      if (field === "name" || field === "email") {
        setFieldError(field, field === "name" ? MESSAGES.nameRejected : MESSAGES.emailRejected);
        showStatus("error", MESSAGES.fixField);
      } else {
        showStatus("error", MESSAGES.badRequest);
      }
    }
  }

  form.addEventListener("submit", submit);
  clearOnInput("name");
  clearOnInput("email");
  showQueryStatus();

  // Exposed for tests and for embedding pages that want to reuse the checks.
  window.regflow = { checkName: checkName, checkEmail: checkEmail };
})();
