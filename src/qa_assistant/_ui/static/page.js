// The page's own script (Gradio's `js` launch option, run once when the page opens).
() => {
  // Gradio writes its toasts' titles in English from the toast's kind, whatever the title the
  // server sent; they are renamed as they appear.
  const TOAST_TITLES = {Info: 'Thông báo', Warning: 'Lưu ý', Error: 'Lỗi', Success: 'Xong'};
  const renameToasts = () => {
    for (const title of document.querySelectorAll('.toast-title')) {
      const text = title.firstChild;
      if (!text || text.nodeType !== Node.TEXT_NODE) continue;
      const named = TOAST_TITLES[text.nodeValue.trim()];
      if (named) text.nodeValue = `${named} `;
    }
  };
  new MutationObserver(renameToasts).observe(document.body, {childList: true, subtree: true});

  // The question box takes the keyboard where there is one, without scrolling the page: on a
  // phone the box sits below the chat and a focus would open the page halfway down, with the
  // title, the tabs and the greeting above the screen (and the keyboard up).
  if (!window.matchMedia('(hover: hover) and (pointer: fine)').matches) return;
  const focusQuestion = () => {
    const box = document.querySelector('#qa-question textarea');
    if (!box) return false;
    const rect = box.getBoundingClientRect();
    if (rect.bottom <= window.innerHeight && !document.activeElement?.matches('input, textarea')) {
      box.focus({preventScroll: true});
    }
    return true;
  };
  if (focusQuestion()) return;
  const waiting = new MutationObserver(() => {
    if (focusQuestion()) waiting.disconnect();
  });
  waiting.observe(document.body, {childList: true, subtree: true});
}
