// Compare page (/compare?a=<id>&b=<id>): two trained models side by side: metrics, settings, per-class F1,
// validation accuracy and loss curves of both on one chart each.
"use strict";

const METRIC_ROWS = [
  // [label, value of a model, higher is better (true), lower (false), or not compared (null)]
  ["Architecture", (m) => m.architecture, null],
  ["Collection", (m) => m.collection_id === null ? "– (deleted)" : `#${m.collection_id}`, null],
  ["Validation accuracy", (m) => m.metrics.accuracy, true],
  ["Macro F1", (m) => m.metrics.macro.f1, true],
  ["Macro precision", (m) => m.metrics.macro.precision, true],
  ["Macro recall", (m) => m.metrics.macro.recall, true],
  ["Top-5 accuracy", (m) => m.metrics.top5, true],
  ["Test accuracy", (m) => m.metrics.test ? m.metrics.test.accuracy : null, true],
  ["Majority-class baseline", (m) => m.metrics.baseline ? m.metrics.baseline.accuracy : null, null],
  ["Best epoch / epochs run", (m) => `${m.metrics.best_epoch} / ${m.metrics.epochs_run}`, null],
  ["Training time", (m) => `${Math.round(m.metrics.seconds)} s on ${m.metrics.device}`, null],
];

document.addEventListener("DOMContentLoaded", async () => {
  const params = new URLSearchParams(location.search);
  try {
    const models = (await api("/models")).filter((m) => m.status === "succeeded");
    for (const [id, wanted] of [["model-a", params.get("a")], ["model-b", params.get("b")]]) {
      const select = document.getElementById(id);
      select.replaceChildren(el("option", { value: "" }, "Choose a model"),
        ...models.map((m) => el("option", { value: m.id }, `#${m.id} ${m.name} v${m.version} (${m.architecture})`)));
      if (wanted && models.some((m) => String(m.id) === wanted)) select.value = wanted;
      select.addEventListener("change", compare);
    }
    await compare();
  } catch (error) { flash(error.message); }
});

async function compare() {
  const a = document.getElementById("model-a").value;
  const b = document.getElementById("model-b").value;
  history.replaceState(null, "", `/compare?${new URLSearchParams(Object.entries({ a, b }).filter(([, v]) => v))}`);
  const section = document.getElementById("comparison");
  if (!a || !b) { section.hidden = true; return; }
  const models = await Promise.all([api(`/models/${a}`), api(`/models/${b}`)]);
  section.hidden = false;
  const names = models.map((m) => `${m.name} v${m.version} (#${m.id})`);
  const head = el("thead", {}, el("tr", {}, el("th", {}, ""), names.map((n, i) => el("th", { scope: "col" }, `${"AB"[i]}: ${n}`))));
  const show = (v) => typeof v === "number" ? percent(v) : v === null || v === undefined ? "–" : v;
  const row = (label, values, higherIsBetter) => {
    const numbers = values.every((v) => typeof v === "number") && values[0] !== values[1];
    const best = numbers && higherIsBetter !== null ? (values[0] > values[1]) === higherIsBetter ? 0 : 1 : -1;
    const differs = higherIsBetter === null && String(values[0]) !== String(values[1]);
    return el("tr", { class: differs ? "differs" : "" }, el("th", { scope: "row" }, label),
      values.map((v, i) => el("td", { class: `num${i === best ? " better" : ""}` }, show(v))));
  };
  const settingKeys = [...new Set(models.flatMap((m) => Object.keys(m.settings || {})))].sort();
  document.getElementById("compare-metrics").replaceChildren(head,
    el("tbody", {}, METRIC_ROWS.map(([label, value, better]) => row(label, models.map(value), better)),
      settingKeys.map((key) => row(`setting: ${key}`, models.map((m) => {
        const v = (m.settings || {})[key];
        return v === undefined ? "–" : v === null ? "automatic" : String(v);
      }), null))));
  const classes = [...new Set(models.flatMap((m) => Object.keys(m.metrics.per_class)))].sort();
  document.getElementById("compare-f1").replaceChildren(head.cloneNode(true),
    el("tbody", {}, classes.map((c) => row(c, models.map((m) => m.metrics.per_class[c] ? m.metrics.per_class[c].f1 : null), true))));
  const series = (key) => models.map((m, i) => {
    const zero = m.metrics.probe_head && m.metrics.probe_head.val_loss !== undefined ? [[0, m.metrics.probe_head[key]]] : [];
    return { label: `${"AB"[i]}: ${names[i]}`, color: CHART_COLORS[i], points: [...zero, ...m.metrics.history.map((e) => [e.epoch, e[key]])] };
  });
  document.getElementById("compare-curves").replaceChildren(
    lineChart({ title: "Validation accuracy", yLabel: "accuracy", percent: true }, series("val_accuracy")),
    lineChart({ title: "Validation loss", yLabel: "loss" }, series("val_loss")));
}
