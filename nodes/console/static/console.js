// A little script for what forms cannot do alone: upload progress, and print after the node
// has recorded the print. Every page works without it except the progress bar.
"use strict";

function csrf() {
  const field = document.querySelector('input[name="csrf"]');
  return field ? field.value : "";
}

function focusFirstMessage() {
  const target = document.querySelector("[data-focus]");
  if (target && !document.querySelector("[autofocus]")) target.focus();
}

function uploadMaterial(box) {
  const kind = box.dataset.kind;
  const input = box.querySelector('input[type="file"]');
  const bar = box.querySelector("progress");
  const state = box.querySelector(".state");
  const ref = box.querySelector('input[type="hidden"]');
  input.addEventListener("change", () => {
    const file = input.files[0];
    if (!file) return;
    const data = new FormData();
    data.append("kind", kind);
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/materials");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("X-Requested-With", "fetch");
    ref.value = "";
    bar.value = 0;
    state.textContent = "正在上传 0%";
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      bar.value = pct;
      state.textContent = pct < 100 ? `正在上传 ${pct}%` : "正在保存到本省节点…";
    };
    xhr.onload = () => {
      let reply = {};
      try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = { error: "上传失败，请重试。" }; }
      if (xhr.status === 200 && reply.ref) {
        ref.value = JSON.stringify(reply.ref);
        bar.value = 100;
        state.textContent = `✓ 已上传 ${reply.file_name}（${reply.size}）`;
        state.className = "state done";
        input.value = "";  // already stored: not sent again with the form
      } else {
        bar.value = 0;
        state.textContent = `✖ ${reply.error || "上传失败，请重试。"}`;
        state.className = "state failed";
      }
    };
    xhr.onerror = () => { state.textContent = "✖ 网络中断，上传失败，请重试。"; state.className = "state failed"; };
    xhr.send(data);
  });
}

function printAfterRecording(form) {
  const state = document.getElementById("print-state");
  const button = document.getElementById("print");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    state.textContent = "正在核验并登记打印…";
    try {
      const reply = await fetch(form.action, {
        method: "POST", body: new FormData(form),
        headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "fetch" },
      });
      const body = await reply.json();
      if (!reply.ok) {
        state.textContent = body.error || "打印未登记，请重试。";
        state.className = "state failed";
        button.disabled = false;
        const reason = document.getElementById("reprint_reason");
        if (reason && !reason.value.trim()) reason.focus(); else button.focus();
        return;
      }
      state.textContent = body.message;
      state.className = "state done";
      const frame = document.getElementById("certificate");
      try { frame.contentWindow.print(); } catch (e) { window.print(); }
      // From now on this is a reprint, which asks for its reason.
      const reprint = document.getElementById("reprint");
      const reason = document.getElementById("reprint_reason");
      reprint.hidden = false;
      reason.required = true;
      reason.value = "";
      button.textContent = "补打";
      button.disabled = false;
    } catch (e) {
      state.textContent = "网络中断，打印未登记，请重试。";
      button.disabled = false;
    }
  });
}

// Alt+1, Alt+2, Alt+3: the three screens, from anywhere, without the mouse.
function shortcuts(event) {
  if (!event.altKey || event.ctrlKey || event.metaKey) return;
  const link = document.querySelector(`nav a[data-shortcut="${event.key}"]`);
  if (link) { event.preventDefault(); window.location.href = link.href; }
}

document.addEventListener("keydown", shortcuts);
document.addEventListener("DOMContentLoaded", () => {
  focusFirstMessage();
  document.querySelectorAll(".upload").forEach(uploadMaterial);
  const printForm = document.getElementById("print-form");
  if (printForm) printAfterRecording(printForm);
});
