/*
 * keylight page script: the page side of docs/pages-and-backend.md.
 * The page works without it as plain HTML forms; with it, the page shows the
 * cart, totals, saved answers and errors from the backend's state endpoint, and
 * sends its forms itself: the answer carries the next page's state, so a step
 * costs the backend one request instead of two.
 * No framework, no build step, no request to any other host.
 */
(function () {
  "use strict";
  var body = document.body;
  if (!body.hasAttribute("data-journey")) return; /* the account page: see below */
  var api = body.getAttribute("data-api") + "/" + body.getAttribute("data-journey");
  var step = body.getAttribute("data-step");
  var LAST_FORM = "kl-last-form";
  /* The script's words, in the page's language: the page has them (partials/words.html). */
  var WORDS = (function () {
    var element = document.getElementById("kl-words");
    try { return element ? JSON.parse(element.textContent) : {}; } catch (e) { return {}; }
  })();

  /* The page's word for `key`, its %(name)s placeholders filled in from `values`. */
  function word(key, values) {
    var text = Object.prototype.hasOwnProperty.call(WORDS, key) ? String(WORDS[key]) : key;
    return text.replace(/%\((\w+)\)s/g, function (placeholder, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : placeholder;
    });
  }

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function setText(el, value) { el.textContent = value == null ? "" : String(value); }
  /* The attribute, not f.method: a field named "method" (the payment choice) shadows the property. */
  function postForms() {
    return all("form").filter(function (f) { return (f.getAttribute("method") || "").toLowerCase() === "post"; });
  }

  function hiddenInput(form, name, value) {
    var input = form.querySelector('input[type="hidden"][name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  function randomToken() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function renderCart(cart) {
    var lines = (cart && cart.lines) || [];
    all("[data-kl-cart]").forEach(function (box) {
      var template = box.querySelector("template[data-kl-cart-line]");
      if (!template) return;
      all("[data-kl-cart-clone]", box).forEach(function (el) { el.remove(); });
      lines.forEach(function (line) {
        var clone = template.content.cloneNode(true);
        all("[data-kl-line]", clone).forEach(function (el) {
          var key = el.getAttribute("data-kl-line");
          var formatted = line.formatted || {};
          setText(el, key in formatted ? formatted[key] : line[key]);
        });
        all('input[name="product"]', clone).forEach(function (el) { el.value = line.product; });
        all('input[name="quantity"]:not([type="hidden"])', clone).forEach(function (el) { el.value = line.quantity; });
        all("*", clone).forEach(function (el) { if (el.parentNode === clone) el.setAttribute("data-kl-cart-clone", ""); });
        template.parentNode.insertBefore(clone, template);
      });
      var empty = box.querySelector("[data-kl-cart-empty]");
      if (empty) empty.hidden = lines.length > 0;
    });
    var inCart = {};
    lines.forEach(function (line) { inCart[line.product] = true; });
    all("[data-kl-product]").forEach(function (el) {
      var chosen = !!inCart[el.getAttribute("data-kl-product")];
      var mark = el.querySelector("[data-kl-in-cart]");
      if (mark) mark.hidden = !chosen;
      /* A one-of selection's chosen product offers nothing more to select. */
      var select = el.querySelector("form[data-kl-select-form]");
      if (select) select.hidden = chosen;
    });
    all("[data-kl-needs-cart]").forEach(function (el) { el.hidden = lines.length === 0; });
    var totals = (cart && cart.totals) || {};
    var formatted = totals.formatted || {};
    var recurring = totals.recurring || {};
    /* The amount behind each formatted total: a billing period the cart has nothing for is not shown. */
    var amounts = {
      one_time_gross: (totals.one_time || {}).gross,
      monthly_gross: (recurring.monthly || {}).gross,
      yearly_gross: (recurring.yearly || {}).gross
    };
    all("[data-kl-totals] [data-kl-total]").forEach(function (el) {
      var key = el.getAttribute("data-kl-total");
      var value = formatted[key];
      setText(el, value);
      if (el.parentElement && el.parentElement.parentElement.hasAttribute("data-kl-totals")) {
        var nothing = key in amounts && amounts[key] != null && Number(amounts[key]) === 0;
        el.parentElement.hidden = !value || nothing || lines.length === 0;
      }
    });
  }

  function renderCustomer(customer) {
    var signedIn = !!(customer && customer.signed_in);
    all("[data-kl-customer]").forEach(function (el) { setText(el, customer ? customer.email : ""); });
    all("[data-kl-signed-in]").forEach(function (el) { el.hidden = !signedIn; });
    all("[data-kl-signed-out]").forEach(function (el) { el.hidden = signedIn; });
    /* The customer a member of staff orders for (a customer lookup step). */
    all("[data-kl-on-behalf]").forEach(function (el) { el.hidden = !(customer && customer.on_behalf); });
  }

  function fillValues(values, shown) {
    /* The answers of a sent form go back into that form only (the login page has three). */
    var sent = values && values.action && document.querySelector('[data-kl-form="' + values.action + '"]');
    all("[data-kl-answers] [data-kl-value]").forEach(function (el) {
      var value = (values || {})[el.getAttribute("data-kl-value")];
      el.parentElement.hidden = value == null || value === "";
    });
    Object.keys(values || {}).forEach(function (name) {
      var value = values[name];
      all("[name]", sent || document).forEach(function (el) {
        if (!el.form) return;
        if (el.name !== name || el.type === "hidden" || el.type === "password") return;
        if (el.type === "checkbox") el.checked = value === true || value === "on";
        else if (el.type === "radio") el.checked = el.value === String(value);
        else el.value = value == null ? "" : String(value);
      });
      all('[data-kl-value="' + name + '"]').forEach(function (el) {
        var checkbox = el.getAttribute("data-kl-value-type") === "checkbox";
        var text = (shown || {})[name] || value;
        setText(el, checkbox ? word(value === true || value === "on" ? "yes" : "no") : text);
      });
    });
  }

  function renderMessages(messages) {
    all("[data-kl-messages]").forEach(function (box) {
      box.textContent = "";
      (messages || []).forEach(function (text) {
        var item = document.createElement("li");
        setText(item, text);
        box.appendChild(item);
      });
      box.hidden = !(messages && messages.length);
    });
  }

  /* The form the customer sent last: on the login page, "email" exists in three forms. */
  function errorForm(name) {
    var last = null;
    try { last = sessionStorage.getItem(LAST_FORM); } catch (e) { /* storage disabled */ }
    var preferred = last && document.querySelector('[data-kl-form="' + last + '"]');
    if (preferred && preferred.querySelector('[name="' + name + '"]')) return preferred;
    return postForms().filter(function (f) { return f.querySelector('[name="' + name + '"]'); })[0] || null;
  }

  /* Where an error's field stands in the page; the step's own message ("_form") first. */
  function pageOrder(a, b) {
    var fieldA = a === "_form" ? null : document.querySelector('[name="' + a + '"]');
    var fieldB = b === "_form" ? null : document.querySelector('[name="' + b + '"]');
    if (a === "_form" || b === "_form") return a === "_form" ? -1 : 1;
    if (!fieldA || !fieldB) return fieldA ? -1 : fieldB ? 1 : 0;
    return fieldA.compareDocumentPosition(fieldB) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
  }

  function showErrors(errors) {
    var names = Object.keys(errors || {}).sort(pageOrder);
    var summary = document.querySelector("[data-kl-error-summary]");
    if (!names.length || !summary) return;
    var list = summary.querySelector("[data-kl-error-list]");
    list.textContent = "";
    names.forEach(function (name) {
      var form = errorForm(name);
      var field = form && form.querySelector('[name="' + name + '"]:not([type="hidden"])');
      var message = document.createElement("p");
      var item = document.createElement("li");
      if (field) {
        var holder = field.closest("[data-kl-field]") || field.closest("fieldset") || form;
        message = holder.querySelector('[data-kl-error="' + name + '"]') || message;
        if (!message.id) message.id = "error-" + (field.id || name);
        setText(message, errors[name]);
        message.hidden = false;
        field.setAttribute("aria-invalid", "true");
        var described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        if (described.indexOf(message.id) < 0) described.push(message.id);
        field.setAttribute("aria-describedby", described.join(" "));
        var link = document.createElement("a");
        link.href = "#" + field.id;
        setText(link, errors[name]);
        link.addEventListener("click", function (event) { event.preventDefault(); field.focus(); });
        item.appendChild(link);
      } else {
        setText(item, errors[name]);
      }
      list.appendChild(item);
    });
    summary.hidden = false;
    summary.focus();
  }

  function renderPayment(payment) {
    all("[data-kl-payment]").forEach(function (el) {
      setText(el, payment ? [payment.label, payment.iban_masked, payment.holder].filter(Boolean).join(" · ") : "");
    });
    all("[data-kl-payment-summary]").forEach(function (el) { el.hidden = !payment; });
  }

  function renderOrder(order) {
    all("[data-kl-order-number]").forEach(function (el) { setText(el, order ? order.number : ""); });
    all("[data-kl-order]").forEach(function (el) { el.hidden = !order; });
    /* Once the order is placed, its steps are no way back: the bar's links become text. */
    if (order) {
      all(".progress a").forEach(function (link) {
        while (link.firstChild) link.parentNode.insertBefore(link.firstChild, link);
        link.remove();
      });
    }
  }

  /* A customer's step on a member of staff's page: what became of its hand-over to the
     customer. Staff do not complete the step themselves, so its own forms go. */
  function renderHandover(handover) {
    all("[data-kl-handover]").forEach(function (box) {
      box.hidden = !handover;
      if (!handover) return;
      var shownAs = handover.done ? "done" : handover.status;
      all("[data-kl-handover-show]", box).forEach(function (el) {
        el.hidden = el.getAttribute("data-kl-handover-show").split(" ").indexOf(shownAs) < 0;
      });
      all("[data-kl-handover-field]", box).forEach(function (el) {
        setText(el, handover[el.getAttribute("data-kl-handover-field")]);
      });
      all("main form").forEach(function (form) { if (!box.contains(form)) form.hidden = true; });
    });
  }

  /* Show the details of the chosen payment method only; without script all are shown. */
  function followPaymentChoice() {
    var details = all("[data-kl-method-details]");
    if (!details.length) return;
    function update() {
      var chosen = document.querySelector('input[name="method"]:checked');
      details.forEach(function (box) {
        var on = !!chosen && chosen.value === box.getAttribute("data-kl-method-details");
        box.hidden = !on;
        box.disabled = !on;
      });
    }
    all('input[name="method"]').forEach(function (el) { el.addEventListener("change", update); });
    update();
  }

  /* Steps whose condition is false for this customer leave the progress bar (the rest are
     renumbered) and the confirmation's summary. */
  function hideSkipped(skipped) {
    var gone = {};
    (skipped || []).forEach(function (id) { gone[id] = true; });
    all("[data-kl-step-summary]").forEach(function (section) {
      section.hidden = !!gone[section.getAttribute("data-kl-step-summary")];
    });
    var number = 0;
    var current = null;
    all("[data-kl-step]").forEach(function (item) {
      item.hidden = !!gone[item.getAttribute("data-kl-step")];
      if (item.hidden) return;
      number += 1;
      var label = item.querySelector(".progress-number");
      if (label) setText(label, number);
      if (item.hasAttribute("aria-current")) current = { number: number, step: item.getAttribute("data-kl-name") };
    });
    if (current) {
      current.count = number;
      all("[data-kl-progress-compact]").forEach(function (el) { setText(el, word("step_of", current)); });
    }
  }

  /* A subscription journey: the subscription, and what this step offers or confirms. */
  function fillFields(root, attribute, values) {
    all("[" + attribute + "]", root).forEach(function (el) {
      setText(el, (values || {})[el.getAttribute(attribute)]);
    });
  }
  function hideEmptyRows(root, attribute, values) {
    all("[" + attribute + "]", root).forEach(function (row) {
      row.hidden = !(values || {})[row.getAttribute(attribute)];
    });
  }
  function renderSubscription(sub) {
    if (!sub) return;
    all("input[data-kl-subscription-id]").forEach(function (el) { el.value = sub.id; });
    fillFields(document, "data-kl-sub", sub);
    hideEmptyRows(document, "data-kl-sub-row", sub);
    renderPlans(sub.plans);
    (sub.pauses || []).forEach(function (pause) {
      all('[data-kl-pause-label="' + pause.periods + '"]').forEach(function (el) { setText(el, pause.label); });
      all('[data-kl-pause-resume="' + pause.periods + '"]').forEach(function (el) { setText(el, " · " + word("billed_again_from", { date: pause.resume })); });
    });
    all("[data-kl-offer]").forEach(function (box) {
      box.hidden = !sub.offer;
      if (sub.offer) setText(box.querySelector("[data-kl-offer-text]"), sub.offer.text);
    });
    var change = sub.change;
    all("[data-kl-change]").forEach(function (box) { box.hidden = !change; });
    all("[data-kl-change-form]").forEach(function (form) { form.hidden = !change; });
    fillFields(document, "data-kl-change-field", Object.assign({}, change || {}, { changed_meanwhile: sub.changed_meanwhile }));
    hideEmptyRows(document, "data-kl-change-row", change);
    all("[data-kl-changed-meanwhile]").forEach(function (el) { el.hidden = !sub.changed_meanwhile; });
    all("[data-kl-applied]").forEach(function (el) {
      el.hidden = !sub.applied;
      if (sub.applied) setText(el.querySelector("[data-kl-applied-text]"), sub.applied.text);
    });
  }
  function renderPlans(plans) {
    all("[data-kl-plans]").forEach(function (box) {
      var template = box.querySelector("template[data-kl-plan-template]");
      all("[data-kl-plan-clone]", box).forEach(function (el) { el.remove(); });
      (plans || []).forEach(function (plan) {
        var clone = template.content.cloneNode(true);
        var input = clone.querySelector('input[name="product"]');
        var label = clone.querySelector("label");
        input.id = "plan-" + plan.product;
        input.value = plan.product;
        input.disabled = plan.kind === "current";
        label.setAttribute("for", input.id);
        fillFields(clone, "data-kl-plan", plan);
        all("*", clone).forEach(function (el) { if (el.parentNode === clone) el.setAttribute("data-kl-plan-clone", ""); });
        box.insertBefore(clone, template);
      });
    });
  }
  /* The offer's forms send the reason and comment the customer gave. */
  function followReason(values) {
    all("[data-kl-offer-reason]").forEach(function (el) { el.value = (values || {}).reason || ""; });
    all("[data-kl-offer-comment]").forEach(function (el) { el.value = (values || {}).comment || ""; });
  }
  function showProblem(message, signIn) {
    renderMessages([message]);
    all("main form").forEach(function (form) { form.hidden = true; });
    /* A journey for staff offers the staff sign-in; a subscription journey is entered
       from the account page, where one signs in. */
    var account = body.getAttribute("data-account");
    var target = signIn || account;
    if (target) {
      all("[data-kl-messages]").forEach(function (box) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = target;
        setText(link, word(signIn ? "staff_sign_in" : "go_to_account"));
        item.appendChild(link);
        box.appendChild(item);
        if (signIn) { box.setAttribute("tabindex", "-1"); box.focus(); }
      });
    }
  }

  function apply(state) {
    /* The page of a step that does not apply to this customer: go on to the one that does. */
    if (state.redirect) { window.location.replace(state.redirect); return; }
    hideSkipped(state.skipped);
    renderCart(state.cart);
    /* Before the values: the plans offered are clones made here, to be checked after. */
    renderSubscription(state.subscription);
    /* After the cart: its lines' quantity and remove forms are clones made just now. */
    postForms().forEach(function (form) { hiddenInput(form, "csrf_token", state.csrf_token); });
    renderCustomer(state.customer);
    fillValues(state.values, state.shown);
    renderMessages(state.messages);
    renderPayment(state.payment);
    renderHandover(state.handover);
    renderOrder(state.order);
    followReason(state.values);
    followPaymentChoice();
    showErrors(state.errors);
  }

  /* The state an answer carried for the page it sent the customer to, kept in this tab
     for that page only, and for a minute: a page opened any other way asks for its own. */
  var NEXT_STATE = "kl-next-state";
  function thisPage() { return window.location.pathname + window.location.search; }
  function keepForNextPage(address, state) {
    try {
      var target = new URL(address, window.location.href);
      if (!state || target.origin !== window.location.origin) return;
      sessionStorage.setItem(NEXT_STATE, JSON.stringify({ page: target.pathname + target.search, at: Date.now(), state: state }));
    } catch (e) { /* storage disabled or full: that page asks */ }
  }
  function keptForThisPage() {
    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(NEXT_STATE) || "null");
      sessionStorage.removeItem(NEXT_STATE);
    } catch (e) { return null; }
    if (!kept || kept.page !== thisPage() || !(Date.now() - kept.at < 60000)) return null;
    return kept.state;
  }

  /* A form of this journey is sent by the script, asking for JSON (the same fields as the
     plain form, the button pressed included); the customer then goes where the answer
     says, as after the plain form's redirect. An answer without a way on (a refusal for
     safety, an error of the backend) or no answer at all is said on this page, and the
     form can be sent again. */
  var journeyApi = new URL(api + "/", window.location.href).href;
  /* The attribute, not form.action: the login forms have a field named "action". */
  function addressOf(form) { return new URL(form.getAttribute("action") || "", window.location.href).href; }
  /* The page's state, once it has arrived (or failed to): a form sent before then waits
     for it, since the state brings the form's security token. */
  var loaded = Promise.resolve();
  function sendWithScript(form, event) {
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return; /* a double click: the first is on its way */
    var submitter = event.submitter;
    form.setAttribute("aria-busy", "true");
    loaded.then(function () {
      var fields = new FormData(form);
      if (submitter && submitter.name) fields.append(submitter.name, submitter.value);
      return fetch(addressOf(form), {
        method: "POST",
        body: new URLSearchParams(fields),
        credentials: "include",
        headers: { Accept: "application/json" }
      });
    }).then(function (response) {
      return response.json();
    }).then(function (answer) {
      if (!answer.redirect) throw answer;
      keepForNextPage(answer.redirect, answer.state);
      window.location.assign(answer.redirect);
    }).catch(function (problem) {
      form.removeAttribute("aria-busy");
      renderMessages([problem && problem.error ? problem.error : word("not_sent")]);
      var box = document.querySelector("[data-kl-messages]");
      if (box) { box.setAttribute("tabindex", "-1"); box.focus(); }
    });
  }

  /* The order summary is open without script; on a small screen it starts folded. */
  var wide = window.matchMedia ? window.matchMedia("(min-width: 60em)") : null;
  function foldSummary() {
    all("details[data-kl-summary]").forEach(function (box) { box.open = !wide || wide.matches; });
  }
  foldSummary();
  if (wide && wide.addEventListener) wide.addEventListener("change", foldSummary);

  all("form[data-kl-confirm]").forEach(function (form) { hiddenInput(form, "confirm_token", randomToken()); });
  postForms().forEach(function (form) {
    form.addEventListener("submit", function (event) {
      try { sessionStorage.setItem(LAST_FORM, form.getAttribute("data-kl-form") || ""); } catch (e) { /* storage disabled */ }
      if (window.fetch && window.URLSearchParams && addressOf(form).indexOf(journeyApi) === 0) sendWithScript(form, event);
    });
  });

  var kept = keptForThisPage();
  if (kept) {
    apply(kept);
    return;
  }
  /* The query string the journey was entered with (?segment=business): the backend keeps it
     with the checkout for the journey's conditions (entry.segment). */
  var entry = window.location.search.replace(/^\?/, "");
  /* The backend answers in the page's language (refusals, the redirects it sends). */
  var language = "&lang=" + encodeURIComponent(document.documentElement.lang);
  loaded = fetch(api + "/state?step=" + encodeURIComponent(step) + (entry ? "&entry=" + encodeURIComponent(entry) : "") + language, {
    credentials: "include",
    headers: { Accept: "application/json" }
  }).then(function (response) {
    if (response.status === 403 || response.status === 404) {
      /* Not this visitor's subscription, or a journey not open to them: say why. */
      return response.json().then(function (body) { showProblem(body.error, body.sign_in_url); });
    }
    if (!response.ok) throw new Error("state: HTTP " + response.status);
    return response.json().then(apply);
  }).catch(function (error) {
    /* The forms still work without the state; say so in the console only. */
    if (window.console) console.warn("keylight:", error.message);
  });
})();

/*
 * The account page: the customer's subscriptions and orders from API/account, with
 * what can be done about each. Without script, the page sends the browser to the
 * backend's rendering of it (a <noscript> refresh).
 */
(function () {
  "use strict";
  var body = document.body;
  if (body.getAttribute("data-kl-page") !== "account") return;
  var api = body.getAttribute("data-account-api");

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function setText(el, value) { el.textContent = value == null ? "" : String(value); }
  function tokenInput(token) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf_token";
    input.value = token;
    return input;
  }

  function action(item, token) {
    if (item.kind === "link") {
      var link = document.createElement("a");
      link.className = "button";
      link.href = item.url;
      setText(link, item.label);
      return link;
    }
    var form = document.createElement("form");
    form.className = "account-action";
    form.method = "post";
    form.action = item.url;
    form.appendChild(tokenInput(token));
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "button";
    setText(button, item.label);
    form.appendChild(button);
    return form;
  }

  function renderSubscriptions(list, token) {
    all("[data-kl-subscriptions]").forEach(function (box) {
      var template = box.querySelector("template[data-kl-subscription-template]");
      all("[data-kl-subscription-clone]", box).forEach(function (el) { el.remove(); });
      list.forEach(function (sub) {
        var clone = template.content.cloneNode(true);
        var card = clone.querySelector("li");
        card.setAttribute("data-kl-subscription-clone", "");
        card.setAttribute("data-kl-subscription-id", sub.id);
        all("[data-kl-sub]", card).forEach(function (el) { setText(el, sub[el.getAttribute("data-kl-sub")]); });
        all("[data-kl-sub-row]", card).forEach(function (row) { row.hidden = !sub[row.getAttribute("data-kl-sub-row")]; });
        var actions = card.querySelector("[data-kl-actions]");
        sub.actions.forEach(function (item) { actions.appendChild(action(item, token)); });
        box.insertBefore(clone, template);
      });
    });
    all("[data-kl-no-subscriptions]").forEach(function (el) { el.hidden = list.length > 0; });
  }

  function renderOrders(orders) {
    all("[data-kl-orders]").forEach(function (box) {
      all("[data-kl-order-clone]", box).forEach(function (el) { el.remove(); });
      orders.forEach(function (order) {
        var item = document.createElement("li");
        item.setAttribute("data-kl-order-clone", "");
        var number = document.createElement("strong");
        setText(number, order.number);
        item.appendChild(document.createTextNode(order.date + " · "));
        item.appendChild(number);
        item.appendChild(document.createTextNode(" · " + order.lines.join(", ") + " · " + order.total));
        box.appendChild(item);
      });
    });
    all("[data-kl-no-orders]").forEach(function (el) { el.hidden = orders.length > 0; });
  }

  function apply(state) {
    var customer = state.customer;
    all("[data-kl-signed-in]").forEach(function (el) { el.hidden = !customer; });
    all("[data-kl-signed-out]").forEach(function (el) { el.hidden = !!customer; });
    all("[data-kl-customer]").forEach(function (el) { setText(el, customer ? customer.email : ""); });
    all('form[method="post"]').forEach(function (form) {
      var input = form.querySelector('input[name="csrf_token"]');
      if (input) input.value = state.csrf_token;
      else form.appendChild(tokenInput(state.csrf_token));
    });
    renderSubscriptions(state.subscriptions || [], state.csrf_token);
    renderOrders(state.orders || []);
    all("[data-kl-messages]").forEach(function (box) {
      box.textContent = "";
      (state.messages || []).forEach(function (text) {
        var item = document.createElement("li");
        setText(item, text);
        box.appendChild(item);
      });
      box.hidden = !(state.messages && state.messages.length);
    });
  }

  var query = window.location.search ? window.location.search + "&" : "?";
  query += "lang=" + encodeURIComponent(document.documentElement.lang);
  fetch(api + query, { credentials: "include", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("account: HTTP " + response.status);
      return response.json();
    })
    .then(apply)
    .catch(function (error) { if (window.console) console.warn("keylight:", error.message); });
})();

/*
 * The staff sign-in page: the password, then the second factor (or its enrolment with a
 * QR code), from API/staff/state. Its forms are sent here and the answer is the new
 * state. Without script, the page sends the browser to the backend's rendering of it.
 */
(function () {
  "use strict";
  var body = document.body;
  if (body.getAttribute("data-kl-page") !== "staff") return;
  var api = body.getAttribute("data-staff-api");

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function setText(el, value) { el.textContent = value == null ? "" : String(value); }

  function showMessages(messages) {
    all("[data-kl-messages]").forEach(function (box) {
      box.textContent = "";
      (messages || []).forEach(function (text) {
        var item = document.createElement("li");
        setText(item, text);
        box.appendChild(item);
      });
      box.hidden = !(messages && messages.length);
    });
  }

  function apply(state, form) {
    all("[data-kl-stage]").forEach(function (section) {
      section.hidden = section.getAttribute("data-kl-stage") !== state.stage;
    });
    all('form[method="post"]').forEach(function (each) {
      var input = each.querySelector('input[name="csrf_token"]');
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = "csrf_token";
        each.appendChild(input);
      }
      input.value = state.csrf_token;
    });
    all("[data-kl-qr]").forEach(function (box) { box.innerHTML = state.enrolment ? state.enrolment.qr_svg : ""; });
    all("[data-kl-secret]").forEach(function (el) { setText(el, state.enrolment ? state.enrolment.secret : ""); });
    all("[data-kl-staff]").forEach(function (el) { setText(el, state[el.getAttribute("data-kl-staff")]); });
    all("[data-kl-staff-journeys]").forEach(function (box) {
      var list = box.querySelector("[data-kl-staff-journey-list]");
      list.textContent = "";
      (state.journeys || []).forEach(function (journey) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = journey.url;
        setText(link, journey.name);
        item.appendChild(link);
        list.appendChild(item);
      });
      box.hidden = !(state.journeys && state.journeys.length);
    });
    all("[data-kl-staff-quotes]").forEach(function (box) {
      var rows = box.querySelector("[data-kl-staff-quote-rows]");
      rows.textContent = "";
      (state.quotes || []).forEach(function (quote) {
        var row = document.createElement("tr");
        ["number", "version", "customer", "status_label", "total", "valid_until", "order_number"].forEach(function (key) {
          var cell = document.createElement("td");
          setText(cell, String(quote[key]));
          row.appendChild(cell);
        });
        rows.appendChild(row);
      });
      box.hidden = !(state.quotes && state.quotes.length);
    });
    all("[data-kl-recovery]").forEach(function (box) {
      var list = box.querySelector("[data-kl-recovery-list]");
      list.textContent = "";
      (state.recovery_codes || []).forEach(function (code) {
        var item = document.createElement("li");
        var text = document.createElement("code");
        setText(text, code);
        item.appendChild(text);
        list.appendChild(item);
      });
      box.hidden = !(state.recovery_codes && state.recovery_codes.length);
    });
    all("[data-kl-error]").forEach(function (el) { el.hidden = true; });
    all("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var errors = state.errors || {};
    var field = form && errors.code && form.querySelector('[name="code"]');
    if (field) {
      /* The code's message stands by the field, which gets the focus back. */
      var message = form.querySelector('[data-kl-error="code"]');
      setText(message, errors.code);
      message.hidden = false;
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", message.id);
      field.value = "";
      showMessages(state.messages);
      field.focus();
      return;
    }
    showMessages(errors._form || errors.code ? [errors._form || errors.code] : state.messages);
    var shown = all("[data-kl-stage]").filter(function (section) { return !section.hidden; })[0];
    var first = shown && shown.querySelector("input:not([type=hidden])");
    if (form && errors._form) {
      var box = document.querySelector("[data-kl-messages]");
      box.setAttribute("tabindex", "-1");
      box.focus();
    } else if (form && first) {
      first.focus();
    }
  }

  /* The page's first state, once it has arrived (or failed to): a form sent before then
     waits for it, for the security token it brings and so that it cannot overwrite the
     form's answer. */
  var loaded = Promise.resolve();
  all('form[method="post"]').forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.URLSearchParams) return;
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      form.setAttribute("aria-busy", "true");
      loaded.then(function () {
        return fetch(form.getAttribute("action"), {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          credentials: "include",
          headers: { Accept: "application/json" }
        });
      }).then(function (response) { return response.json(); })
        .then(function (state) {
          form.removeAttribute("aria-busy");
          if (!state.stage) { showMessages([state.error]); return; }
          all("input[type=password]").forEach(function (el) { el.value = ""; });
          apply(state, form);
        })
        .catch(function () { form.removeAttribute("aria-busy"); });
    });
  });

  loaded = fetch(api + "/state?lang=" + encodeURIComponent(document.documentElement.lang), {
    credentials: "include",
    headers: { Accept: "application/json" }
  }).then(function (response) {
    if (!response.ok) throw new Error("staff: HTTP " + response.status);
    return response.json();
  }).then(function (state) { apply(state, null); })
    .catch(function (error) { if (window.console) console.warn("keylight:", error.message); });
})();

/*
 * The quote page: the quote named by the token in the address's fragment (sent to no
 * server but this backend's, by this script), from API/quote/<token>. Accepting and
 * declining are sent here and the answer is the quote's new state. Without script, the
 * email's second link opens the backend's rendering of the page.
 */
(function () {
  "use strict";
  var body = document.body;
  if (body.getAttribute("data-kl-page") !== "quote") return;
  var token = window.location.hash.replace(/^#/, "");
  if (!token) return;
  /* A link to another version changes only the fragment: load that version's state. */
  window.addEventListener("hashchange", function () { window.location.reload(); });
  /* The same quote in another language: its token goes along, in the fragment. */
  all(".languages a[hreflang]").forEach(function (link) { link.hash = token; });
  var api = body.getAttribute("data-quote-api") + "/" + encodeURIComponent(token);
  var language = "?lang=" + encodeURIComponent(document.documentElement.lang);

  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function setText(el, value) { el.textContent = value == null ? "" : String(value); }
  function element(name, text) {
    var made = document.createElement(name);
    if (text != null) setText(made, text);
    return made;
  }

  function showMessages(messages) {
    all("[data-kl-messages]").forEach(function (box) {
      box.textContent = "";
      (messages || []).forEach(function (text) { box.appendChild(element("li", text)); });
      box.hidden = !(messages && messages.length);
    });
  }

  function apply(state) {
    all("[data-kl-quote]").forEach(function (el) { setText(el, state[el.getAttribute("data-kl-quote")]); });
    all('[data-kl-quote="message"]').forEach(function (el) { el.hidden = !state.message; });
    all("[data-kl-quote-body]").forEach(function (el) { el.hidden = false; });
    all("[data-kl-quote-open]").forEach(function (el) { el.hidden = !state.open; });
    all("[data-kl-quote-legal]").forEach(function (item) {
      var url = (state.seller || {})[item.getAttribute("data-kl-quote-legal")];
      item.hidden = !url;
      item.querySelector("a").href = url || "#";
    });
    var newer = state.newer && state.newer.url;
    all("[data-kl-quote-newer]").forEach(function (el) {
      el.hidden = !newer;
      /* The newer version's page: another fragment of this page, so it is read anew. */
      if (newer) el.querySelector("a").href = newer;
    });
    all("[data-kl-quote-lines]").forEach(function (tbody) {
      tbody.textContent = "";
      (state.lines || []).forEach(function (line) {
        var row = element("tr");
        var name = element("th", line.name);
        name.scope = "row";
        if (line.formatted.discount) {
          name.appendChild(element("br"));
          name.appendChild(element("small", line.formatted.discount));
        }
        row.appendChild(name);
        row.appendChild(element("td", line.quantity));
        row.appendChild(element("td", line.formatted.unit_price));
        row.appendChild(element("td", line.formatted.line_total));
        tbody.appendChild(row);
      });
    });
    all("[data-kl-quote-totals]").forEach(function (list) {
      list.textContent = "";
      (state.total_rows || []).forEach(function (pair) {
        var row = element("div");
        row.appendChild(element("dt", pair[0]));
        row.appendChild(element("dd", pair[1]));
        list.appendChild(row);
      });
    });
    all("form[data-kl-quote-form]").forEach(function (form) {
      form.setAttribute("action", api + "/" + form.getAttribute("data-kl-quote-form") + language);
    });
  }

  function showErrors(form, errors) {
    all("[data-kl-error]", form).forEach(function (el) { el.hidden = true; });
    all("[aria-invalid]", form).forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var first = null;
    Object.keys(errors || {}).forEach(function (name) {
      var message = form.querySelector('[data-kl-error="' + name + '"]');
      var field = form.querySelector('[name="' + name + '"]');
      if (!message || !field) return;
      setText(message, errors[name]);
      message.hidden = false;
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", message.id);
      first = first || field;
    });
    return first;
  }

  /* The quote's first state, once it has arrived (or failed to): an answer sent before
     then waits for it, so that the older state cannot overwrite the answer's. */
  var loaded = Promise.resolve();
  all("form[data-kl-quote-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.URLSearchParams) return;
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return; /* a double click: one answer */
      form.setAttribute("aria-busy", "true");
      loaded.then(function () {
        return fetch(form.getAttribute("action"), {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          credentials: "omit",
          headers: { Accept: "application/json" }
        });
      }).then(function (response) { return response.json(); })
        .then(function (state) {
          form.removeAttribute("aria-busy");
          if (!state.number) { showMessages([state.error]); return; }
          apply(state);
          var field = showErrors(form, state.errors);
          var errors = state.errors || {};
          showMessages(errors._form ? [errors._form] : state.messages);
          if (field) { field.focus(); return; }
          var box = document.querySelector("[data-kl-messages]");
          if (box && !box.hidden) { box.setAttribute("tabindex", "-1"); box.focus(); }
        })
        .catch(function () { form.removeAttribute("aria-busy"); });
    });
  });

  loaded = fetch(api + language, { credentials: "omit", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (state) {
        if (!response.ok) { showMessages([state.error]); return; }
        apply(state);
      });
    })
    .catch(function (error) { if (window.console) console.warn("keylight:", error.message); });
})();
