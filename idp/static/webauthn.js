// The page's WebAuthn ceremony: the options come from the JSON block
// #webauthn-options (made by the server with a fresh challenge); the browser's
// answer goes into the form's hidden "credential" field and the form is sent.
(function () {
  "use strict";
  var form = document.getElementById("webauthn-form");
  if (!form) { return; }
  var status = document.getElementById("webauthn-status");
  var options = JSON.parse(document.getElementById("webauthn-options").textContent);
  var supported = window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON && PublicKeyCredential.parseRequestOptionsFromJSON;

  function ceremony() {
    if (form.dataset.ceremony === "create") {
      return navigator.credentials.create(
        {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)});
    }
    return navigator.credentials.get(
      {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
  }

  form.addEventListener("submit", function (event) {
    if (form.elements.credential.value) { return; }
    event.preventDefault();
    if (!supported) { status.textContent = form.dataset.unsupported; return; }
    status.textContent = form.dataset.waiting;
    ceremony().then(function (credential) {
      form.elements.credential.value = JSON.stringify(credential.toJSON());
      HTMLFormElement.prototype.submit.call(form);  // a field named "submit" hides form.submit
    }).catch(function () {
      status.textContent = form.dataset.failed;
    });
  });
})();
