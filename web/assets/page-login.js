/* page-login: /login. The sign-in form (account name, password); on success it goes back to
 * ?next= (a same-origin path only) or to the conversations. Shows why sign-in was needed (an
 * expired session) and why it failed (wrong password, too many attempts) in data-testid
 * "login-error". */
import { h, field, errorBox, showError } from "./dom.js";
import { currentAccount, signIn } from "./session.js";

export function render(main, ctx) {
  ctx.setTitle("Sign in");
  const next = ctx.safeNext(ctx.query.get("next") || "/conversations");
  if (currentAccount()) {
    ctx.navigate(next, { replace: true });
    return;
  }

  const user = field("Account name", {
    name: "username",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    required: true,
    testid: "username",
  });
  const pass = field("Password", {
    kind: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
    testid: "password",
  });
  const error = errorBox("login-error");
  const submit = h("button", { type: "submit", class: "button primary wide", testid: "sign-in" }, "Sign in");
  const form = h("form", { class: "stack", novalidate: true }, user.wrap, pass.wrap, error, submit);

  /* Why sign-in is needed (an expired session): cleared on submit, unlike a refusal, which
   * stays until the next answer replaces it. */
  const notice = ctx.takeNotice();
  if (notice) {
    showError(error, notice);
    error.dataset.kind = "notice";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = user.input.value.trim();
    const password = pass.input.value;
    if (!username || !password) {
      showError(error, !username ? "Enter your account name." : "Enter your password.");
      delete error.dataset.kind;
      (!username ? user.input : pass.input).focus();
      return;
    }
    if (error.dataset.kind === "notice") {
      showError(error, "");
      delete error.dataset.kind;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await signIn(username, password);
      if (ctx.signal.aborted) return;
      ctx.navigate(next, { replace: true });
    } catch (e) {
      if (ctx.signal.aborted) return;
      showError(error, e.message || "Sign-in failed.");
      delete error.dataset.kind;
      pass.input.focus();
      pass.input.select();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });

  main.append(
    h(
      "section",
      { class: "card narrow", "aria-labelledby": "login-title" },
      h("h1", { id: "login-title" }, "Sign in"),
      h("p", { class: "muted" }, "Sign in with your cloudhands account."),
      form,
      h(
        "p",
        { class: "hint" },
        "No account yet? An administrator creates one with ",
        h("code", {}, "cloudhands user add NAME"),
        ".",
      ),
    ),
  );
  user.input.focus();
}
