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

  // --- words: web/i18n.js (loaded first) ----------------------------------------------

  var words = window.regflowWords;
  var msg = words.msg;

  // --- the server's rules, mirrored (the server has the last word) ------------------------

  // Control characters (Cc) and the line/paragraph separators (Zl, Zp), as in validation.py.
  // Judged after NFKC, as the server does: control, invisible format (zero-width, bidi
  // overrides), line/paragraph separator, private-use, surrogate and unassigned characters.
  var FORBIDDEN_NAME_CHARS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}]/u;
  // RFC 2047 encoded words (=?charset?q?...?=): a mail client decodes them in a Subject.
  var ENCODED_WORD = /=\?[\s\S]*\?=/;
  // Dots that NFKC leaves alone but a reader takes for one.
  var DOTS = /[\u3002\uff61\ufe52\u2e33]/g;
  // A web address or a domain name in a name would be mailed, as text, to whatever address was
  // typed (the server's _LINKISH, with \w spelled out: JavaScript's \w is ASCII only).
  var LINKISH = new RegExp(
    "[a-z][a-z0-9+.-]*\\s*:\\s*[/\\\\]{2}" +
      "|(?<![\\p{L}\\p{N}_])(?:https?|ftp|mailto|javascript|data|file)\\s*:" +
      "|(?<![\\p{L}\\p{N}_])www\\s*\\." +
      "|(?<![\\p{L}\\p{N}_.-])[\\p{L}\\p{N}][\\p{L}\\p{N}_-]*[\\p{L}\\p{N}]\\." +
      "(?:[\\p{L}\\p{N}_-]+\\.)*\\p{L}{2,}(?![\\p{L}\\p{N}_-])" +
      // a dotted IPv4 address, or a shortened one before a path
      "|(?<![\\p{L}\\p{N}_.])[0-9]{1,10}(?:\\.[0-9]{1,3}){3}(?![\\p{L}\\p{N}_]|\\.[0-9])" +
      "|(?<![\\p{L}\\p{N}_.])[0-9]{1,10}(?:\\.[0-9]{1,8}){1,2}(?=[/\\\\?#]|:[0-9])",
    "iu"
  );
  // A domain whose first label is one letter or digit (v.gd/Ab12Cd, x.com, t.co), unless it is
  // initials glued to a surname (A.Smith, J.R.R.Tolkien): the server's _ONE_LETTER_DOMAIN.
  var ONE_LETTER_DOMAIN = new RegExp(
    "(?<![\\p{L}\\p{N}_.-])([\\p{L}\\p{N}](?:\\.[\\p{L}\\p{N}](?:[\\p{L}\\p{N}_-]*[\\p{L}\\p{N}])?)*)" +
      "\\.(\\p{L}{2,}|xn--[a-z0-9-]+)(?![\\p{L}\\p{N}_-])([/\\\\?#@]|:[0-9])?",
    "giu"
  );

  function isUpper(ch) {
    return ch === ch.toUpperCase() && ch !== ch.toLowerCase();
  }

  function isInitials(match) {
    var tld = match[2];
    var labels = match[1].split(".");
    for (var i = 0; i < labels.length; i++) {
      if (Array.from(labels[i]).length !== 1 || !isUpper(labels[i])) return false;
    }
    var rest = tld.slice(1);
    return match[3] === undefined && isUpper(tld[0]) && rest === rest.toLowerCase();
  }

  // The server's contains_link: the rule for any free text that is mailed.
  function containsLink(text) {
    var folded = text.normalize("NFKC").replace(DOTS, ".");
    if (LINKISH.test(folded)) return true;
    var matches = folded.matchAll(ONE_LETTER_DOMAIN);
    for (var match of matches) {
      if (!isInitials(match)) return true;
    }
    return false;
  }
  // Dot-atom local part, ASCII only (no quoted strings, no empty atoms), as the server.
  var LOCAL_PART = /^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+)*$/;
  // One domain label: letters and digits of any script, inner hyphens, at most 63 characters.
  var DOMAIN_LABEL = /^[\p{L}\p{N}\p{M}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?$/u;

  function codePointLength(text) {
    return Array.from(text).length;
  }

  function checkName(value) {
    var name = value.normalize("NFKC").trim();
    if (!name) return msg("web.name.missing");
    if (codePointLength(name) > NAME_MAX) return msg("web.name.too_long", { max: NAME_MAX });
    if (FORBIDDEN_NAME_CHARS.test(name)) return msg("web.name.bad_chars");
    if (ENCODED_WORD.test(name)) return msg("web.name.bad_chars");
    if (containsLink(name)) return msg("web.name.link");
    return null;
  }

  function checkEmail(value) {
    var email = value.trim();
    if (!email) return msg("web.email.missing");
    if (codePointLength(email) > EMAIL_MAX) return msg("web.email.too_long", { max: EMAIL_MAX });
    var at = email.lastIndexOf("@");
    if (at < 1 || at === email.length - 1) return msg("web.email.invalid");
    var local = email.slice(0, at);
    var domain = email.slice(at + 1);
    if (codePointLength(local) > 64 || !LOCAL_PART.test(local)) return msg("web.email.invalid");
    if (domain.length > 253) return msg("web.email.invalid");
    var labels = domain.split(".");
    if (labels.length < 2) return msg("web.email.invalid");
    for (var i = 0; i < labels.length; i++) {
      if (!DOMAIN_LABEL.test(labels[i])) return msg("web.email.invalid");
    }
    if (/^[0-9]+$/.test(labels[labels.length - 1])) return msg("web.email.invalid");
    return null;
  }

  // --- page wiring --------------------------------------------------------------------------

  words.collectFallback();
  var language = words.pickLanguage();
  var catalogLoaded = words.loadCatalog(language);

  var form = document.getElementById("register-form");
  if (!form) return;
  var statusBox = document.getElementById("form-status");
  var button = document.getElementById("submit-button");
  var fields = {
    name: { input: form.elements.namedItem("name"), error: document.getElementById("name-error") },
    email: {
      input: form.elements.namedItem("email"),
      error: document.getElementById("email-error"),
    },
  };
  var honeypot = form.elements.namedItem("website");
  var langField = form.elements.namedItem("lang");
  // The mails of this registration are written in the page's language (a plain form post too).
  if (langField) langField.value = language;

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
    button.textContent = busy ? msg("web.form.sending") : msg("web.form.submit");
  }

  function retryText(header) {
    var seconds = parseInt(header || "", 10);
    if (!(seconds > 0)) return " " + msg("web.retry.later");
    if (seconds < 90) return " " + msg("web.retry.minute");
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 90) return " " + msg("web.retry.minutes", { minutes: minutes });
    return " " + msg("web.retry.hours", { hours: Math.ceil(minutes / 60) });
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
      var text =
        payload && typeof payload.message === "string" ? payload.message : msg("web.form.sent");
      showStatus("success", text);
      showAfterSent(payload && typeof payload.sender === "string" ? payload.sender : "");
      return;
    }
    if (status === 400 && payload && fields[payload.field]) {
      setFieldError(payload.field, serverMessage(payload, msg("web.form.bad_request")));
      showStatus("error", msg("web.form.fix_field"));
      fields[payload.field].input.focus();
      return;
    }
    if (status === 429) {
      showStatus(
        "error",
        msg("web.error.rate_limited") + retryText(response.headers.get("Retry-After"))
      );
      return;
    }
    if (status === 503) {
      showStatus("error", msg("web.error.busy"));
      return;
    }
    if (status >= 500) {
      showStatus("error", msg("web.error.server"));
      return;
    }
    showStatus("error", serverMessage(payload, msg("web.form.bad_request")));
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
      showStatus("error", msg("web.form.fix_field"));
      fields[first].input.focus();
      return;
    }

    if (challenge.state === "solving") {
      // CHALLENGE=pow: the browser check is still running; send once it is done
      setBusy(true);
      challenge.promise.then(function () {
        setBusy(false);
        submit(event);
      });
      return;
    }

    var body = JSON.stringify({
      name: fields.name.input.value.trim(),
      email: fields.email.input.value.trim(),
      website: honeypot ? honeypot.value : "",
      lang: language,
      challenge: challenge.payload || undefined,
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
      // the answer sets the registration cookie the code form needs (CONFIRM_CODE)
      credentials: "same-origin",
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return readJson(response).then(function (payload) {
          handleResponse(response, payload);
          var spent = response.ok || (payload && payload.field === "challenge");
          if (challenge.state !== "off" && spent) {
            if (!response.ok) showStatus("error", serverMessage(payload, msg("web.signup.challenge_failed")));
            prepareChallenge(); // a solution registers once: the next post needs a new one
          }
        });
      })
      .catch(function (err) {
        showStatus(
          "error",
          err && err.name === "AbortError" ? msg("web.error.timeout") : msg("web.error.network")
        );
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
      showStatus("success", msg("web.form.sent"));
      showAfterSent("");
    } else if (status === "error" && params.get("field") === "challenge") {
      showStatus("error", msg("web.signup.challenge_failed"));
    } else if (status === "code-error") {
      showAfterSent("");
      showCodeError(msg("web.signup.code_error"));
    } else if (status === "error") {
      var field = params.get("field");
      if (field === "name" || field === "email") {
        setFieldError(
          field,
          field === "name" ? msg("web.name.rejected") : msg("web.email.rejected")
        );
        showStatus("error", msg("web.form.fix_field"));
      } else {
        showStatus("error", msg("web.form.bad_request"));
      }
    }
  }

  // --- CHALLENGE=pow: a proof-of-work check, solved here with WebCrypto -------------------
  //
  // GET /challenge answers 404 when the site has it off. Otherwise it hands out an ALTCHA
  // challenge {algorithm, challenge, maxnumber, salt, signature}: find the number n in
  // [0, maxnumber] with SHA-256(salt + n) == challenge, and send the ALTCHA payload
  // (base64 JSON) with the form. No request goes anywhere but this site.

  var challenge = { state: "off", payload: null, promise: Promise.resolve() };
  var challengeStatus = document.getElementById("challenge-status");
  function sayChallenge(key) {
    if (!challengeStatus) return;
    challengeStatus.textContent = key ? msg(key) : "";
  }

  function toHex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  // The search runs in workers (web/challenge-worker.js: SHA-256 in plain JavaScript, the
  // salt's whole blocks hashed once, then one block per number, no promise or allocation per
  // number), one per core up to 8, each on its own part of [0, maxnumber]; WebCrypto checks
  // the answer. Without workers, the page does it itself, one WebCrypto digest per number
  // (slow, but it works).
  var WORKER_URL = (function () {
    var script = document.currentScript && document.currentScript.src;
    return script ? script.replace(/[^/]*$/, "challenge-worker.js") : "challenge-worker.js";
  })();

  function solveInWorkers(task) {
    var count = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 8));
    var max = task.maxnumber;
    var share = Math.ceil((max + 1) / count);
    return new Promise(function (resolve, reject) {
      var workers = [];
      var pending = count;
      var settled = false;
      function settle(ok, value) {
        if (settled) return;
        settled = true;
        workers.forEach(function (worker) {
          worker.terminate();
        });
        (ok ? resolve : reject)(value);
      }
      for (var i = 0; i < count && !settled; i++) {
        var worker;
        try {
          worker = new Worker(WORKER_URL);
        } catch (error) {
          settle(false, error);
          return;
        }
        workers.push(worker);
        worker.onmessage = function (event) {
          if (typeof event.data === "number") settle(true, event.data);
          else if (--pending === 0) settle(true, null);
        };
        worker.onerror = function (event) {
          if (event && event.preventDefault) event.preventDefault();
          settle(false, new Error("challenge worker failed"));
        };
        worker.postMessage({
          salt: String(task.salt),
          target: String(task.challenge).toLowerCase(),
          start: i * share,
          end: Math.min(max, (i + 1) * share - 1),
        });
      }
    });
  }

  function solveHere(task) {
    var encoder = new TextEncoder();
    function batch(start) {
      if (start > task.maxnumber) return Promise.resolve(null);
      var end = Math.min(start + 999, task.maxnumber);
      var digests = [];
      for (var n = start; n <= end; n++) {
        digests.push(crypto.subtle.digest("SHA-256", encoder.encode(task.salt + n)));
      }
      return Promise.all(digests).then(function (hashes) {
        for (var i = 0; i < hashes.length; i++) {
          if (toHex(hashes[i]) === task.challenge) return start + i;
        }
        return batch(end + 1);
      });
    }
    return batch(0);
  }

  function solve(task) {
    var search = typeof Worker === "function" ? solveInWorkers(task) : Promise.reject(null);
    return search
      .catch(function () {
        return solveHere(task);
      })
      .then(function (found) {
        if (found === null) return null;
        // WebCrypto has the last word on the answer
        var data = new TextEncoder().encode(task.salt + found);
        return crypto.subtle.digest("SHA-256", data).then(function (hash) {
          return toHex(hash) === task.challenge ? found : null;
        });
      });
  }

  function challengeEndpoint() {
    return apiEndpoint().replace(/\/register$/, "/challenge");
  }

  function prepareChallenge() {
    if (!window.crypto || !window.crypto.subtle || typeof window.fetch !== "function") return;
    challenge.payload = null;
    var started = window.performance ? performance.now() : 0;
    challenge.promise = fetch(challengeEndpoint(), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (response.status === 204 || response.status === 404) {
          challenge.state = "off";
          return null;
        }
        if (!response.ok) throw new Error("challenge " + response.status);
        challenge.state = "solving";
        form.setAttribute("aria-busy", "true");
        sayChallenge("web.signup.challenge_verifying");
        return response.json().then(function (task) {
          return solve(task).then(function (number) {
            if (number === null) throw new Error("unsolved");
            challenge.payload = btoa(
              JSON.stringify({
                algorithm: task.algorithm,
                challenge: task.challenge,
                number: number,
                salt: task.salt,
                signature: task.signature,
              })
            );
            challenge.state = "ready";
            if (window.performance) window.regflowChallengeMs = performance.now() - started;
            sayChallenge("web.signup.challenge_done");
          });
        });
      })
      .catch(function () {
        challenge.state = "ready"; // send without: the server explains (field "challenge")
        sayChallenge("web.signup.challenge_failed");
      })
      .then(function () {
        if (!button.disabled) form.setAttribute("aria-busy", "false");
      });
  }

  prepareChallenge();

  // --- after submitting: the spam note and the code beside the link (CONFIRM_CODE) -------

  var spamNote = document.getElementById("spam-note");
  var codeForm = document.getElementById("code-form");
  var codeInput = document.getElementById("code");
  var codeError = document.getElementById("code-error");
  var codeButton = document.getElementById("code-button");

  function showAfterSent(sender) {
    if (spamNote) {
      spamNote.textContent = sender
        ? msg("web.signup.spam_note_from", { sender: sender })
        : msg("web.signup.spam_note");
      spamNote.hidden = false;
    }
    if (codeForm) codeForm.hidden = false;
  }

  function showCodeError(text) {
    if (!codeError) return;
    codeError.textContent = text || "";
    codeError.hidden = !text;
    if (text) codeInput.setAttribute("aria-invalid", "true");
    else codeInput.removeAttribute("aria-invalid");
  }

  function codeEndpoint() {
    return apiEndpoint().replace(/\/register$/, "/confirm-code");
  }

  function submitCode(event) {
    event.preventDefault();
    var code = codeInput.value.replace(/[\s-]/g, "");
    if (!/^[0-9]{6}$/.test(code)) {
      showCodeError(msg("web.signup.code_missing"));
      codeInput.focus();
      return;
    }
    showCodeError(null);
    codeButton.disabled = true;
    codeButton.textContent = msg("web.signup.code_checking");
    fetch(codeEndpoint(), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ code: code, lang: language }),
      credentials: "same-origin",
    })
      .then(function (response) {
        return readJson(response).then(function (payload) {
          if (response.ok && payload && typeof payload.location === "string") {
            showStatus("success", typeof payload.message === "string" ? payload.message : "");
            window.location.assign(payload.location);
            return;
          }
          showCodeError(serverMessage(payload, msg("web.signup.code_error")));
          codeInput.focus();
        });
      })
      .catch(function () {
        showCodeError(msg("web.error.network"));
      })
      .then(function () {
        codeButton.disabled = false;
        codeButton.textContent = msg("web.signup.code_submit");
      });
  }

  if (codeForm) codeForm.addEventListener("submit", submitCode);

  form.addEventListener("submit", submit);
  clearOnInput("name");
  clearOnInput("email");
  // In the page's language: once its catalog is in (or known not to come).
  catalogLoaded.then(showQueryStatus);

  // Exposed for tests and for embedding pages that want to reuse the checks.
  window.regflow = { checkName: checkName, checkEmail: checkEmail, solveChallenge: solve };
})();
