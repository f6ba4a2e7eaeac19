/* The served explorer's poking (s2s serve only): click an output word to see what else the model
   weighed there (POST /alternatives, teacher-forced on the words before it); choose one, and the page
   is decoded again with the words before it and the chosen one forced as the prefix (GET /?prefix=).
   A button downloads the shown translation's word alignment in Pharaoh format (source-target).
   Output words are elements with class out-word and data-step, or the attention grid's row labels
   and the line view's right-hand words. */
(function () {
  "use strict";

  const dataNode = document.getElementById("s2s-poke");
  const box = document.getElementById("poke");
  if (!dataNode || !box) return;
  const data = JSON.parse(dataNode.textContent);
  const words = data.output_words || [];
  const SELECTOR = ".out-word[data-step], th.row-label[data-row], ol.words.right li.word[data-row]";
  const K = 8;

  function make(tag, props, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (name === "text") node.textContent = value;
      else if (value === true) node.setAttribute(name, "");
      else if (value !== false && value != null) node.setAttribute(name, String(value));
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  const status = make("span", { class: "poke-status", "data-testid": "poke-status", "aria-live": "polite" });
  const download = make("button", {
    type: "button", class: "poke-download", "data-testid": "pharaoh-download",
    title: "each output word's link to the source word it attends to most, as source-target pairs",
    text: "Download alignment (Pharaoh)",
  });
  const list = make("ol", { class: "poke-list", "data-testid": "alternatives", "aria-label": "alternatives" });
  const free = make("button", { type: "button", class: "poke-free", "data-testid": "poke-free", text: "Translate freely" });
  free.addEventListener("click", () => choose(""));
  box.append(make("div", { class: "poke-bar" }, [status, data.prefix ? free : "", download]), list);
  const invite = "Click an output word to see what else the model weighed there.";
  status.textContent = data.prefix ? `Forced to start with “${data.prefix}”. ${invite}` : invite;

  download.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([data.pharaoh + "\n"], { type: "text/plain" }));
    const link = make("a", { href: url, download: "alignment.pharaoh" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });

  // The output position an element stands for, or null (a grid row label must name that very word:
  // the encoder's self-attention has source words down its rows).
  function stepOf(node) {
    const hit = node instanceof Element ? node.closest(SELECTOR) : null;
    if (!hit || box.contains(hit)) return null;
    const step = Number(hit.dataset.step ?? hit.dataset.row);
    if (!Number.isInteger(step) || step < 0 || step > words.length) return null;
    const expected = step < words.length ? words[step] : "<eos>";
    if (!hit.classList.contains("out-word") && hit.title !== expected) return null;
    return step;
  }

  document.addEventListener("click", (event) => {
    const step = stepOf(event.target);
    if (step != null) ask(step);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const step = stepOf(event.target);
    if (step != null) ask(step);
  });

  async function ask(step) {
    const word = step < words.length ? words[step] : "<eos>";
    list.replaceChildren();
    box.dataset.step = String(step);
    status.textContent = `Asking for the alternatives to “${word}” …`;
    let answer;
    try {
      const reply = await fetch("/alternatives", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: data.text, prefix: words.slice(0, step).join(" "), k: K }),
      });
      answer = await reply.json();
      if (!reply.ok) throw new Error(answer.error || reply.statusText);
    } catch (error) {
      status.textContent = `No alternatives: ${error.message}`;
      return;
    }
    status.textContent = `Word ${step + 1}, “${word}”: the model weighed (choose one to translate from there)`;
    list.replaceChildren(...answer.alternatives.map((alt) => choice(alt, word)));
  }

  function choice(alt, shown) {
    const chance = `${(100 * Math.exp(alt.log_prob)).toFixed(1)}%`;
    const button = make("button", {
      type: "button", class: "poke-choice" + (alt.token === shown ? " current" : ""), "data-testid": "alternative",
      "data-token": alt.token, disabled: alt.prefix == null,
      title: alt.prefix == null ? "end the translation here (cannot be forced)" : `translate again from “${alt.prefix}”`,
    }, [
      make("span", { class: "poke-token", text: alt.token }),
      make("span", { class: "poke-score", text: `${alt.log_prob.toFixed(3)} (${chance})` }),
    ]);
    button.addEventListener("click", () => choose(alt.prefix));
    return make("li", {}, [button]);
  }

  function choose(prefix) {
    const params = new URLSearchParams({ text: data.text, prefix });
    if (data.attribution) params.set("attribution", data.attribution);
    window.location.assign(`/?${params}`);
  }
})();
