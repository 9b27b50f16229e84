// A textarea bound to an element's collaborative text (a Y.XmlText): the person's input goes into the
// text as the smallest delete and insert, and everyone else's edits come into the textarea as they
// arrive, not at the page's next redraw, with the person's selection kept on the same characters.

/** What the textarea shows for an embedded object (the server deletes those; ADR 0013): one character,
 * so offsets in the textarea and in the Yjs text are the same numbers. */
const EMBED = '\uFFFC'

export class TextBinding {
  /** Binds `area` to `ytext` until destroy(); the textarea's value is the text's from now on. */
  constructor (ytext, area) {
    this.ytext = ytext
    this.area = area
    /** What the textarea showed after the last input or remote edit: the base of the next input's diff.
     * Diffing against the live text instead would read characters that arrived meanwhile as deleted. */
    this.shown = ytext.toDelta().map(op => typeof op.insert === 'string' ? op.insert : EMBED).join('')
    area.value = this.shown
    this.onInput = () => this.applyInput()
    this.onChange = event => { if (event.transaction.origin !== this) this.applyRemote(event.delta) }
    area.addEventListener('input', this.onInput)
    ytext.observe(this.onChange)
  }

  /** The person's edit, as the difference between what was shown and what the textarea holds now. */
  applyInput () {
    const before = this.shown
    const after = this.area.value
    this.shown = after
    const { index, removed, inserted } = textChange(before, after, this.area.selectionEnd)
    if (removed === 0 && inserted === '') return
    this.ytext.doc.transact(() => {
      if (removed > 0) this.ytext.delete(index, removed)
      if (inserted !== '') this.ytext.insert(index, inserted)
    }, this)
  }

  /** Someone else's edit (a Yjs delta) applied to the textarea; the selection moves with its characters,
   * and a collapsed caret stays before text inserted right at it, so two people typing at one spot
   * each keep their words whole. */
  applyRemote (delta) {
    const area = this.area
    let { selectionStart: start, selectionEnd: end } = area
    const collapsed = start === end
    const parts = []
    let index = 0 // in the text before the edit
    let shift = 0 // how far the edit so far moved what follows
    for (const op of delta) {
      if (op.retain !== undefined) {
        parts.push(this.shown.slice(index, index + op.retain))
        index += op.retain
      } else if (op.delete !== undefined) {
        const from = index + shift
        const moved = position => position <= from ? position : Math.max(from, position - op.delete)
        start = moved(start)
        end = moved(end)
        index += op.delete
        shift -= op.delete
      } else {
        const text = typeof op.insert === 'string' ? op.insert : EMBED
        const at = index + shift
        if (at < start || (at === start && !collapsed)) start += text.length
        if (at < end) end += text.length
        parts.push(text)
        shift += text.length
      }
    }
    parts.push(this.shown.slice(index))
    this.shown = parts.join('')
    if (area.value === this.shown) return
    const { scrollTop, selectionDirection } = area
    area.value = this.shown
    area.setSelectionRange(start, end, selectionDirection)
    area.scrollTop = scrollTop
  }

  /** Whether every selected character carries mark `name` (false when nothing is selected). */
  selectionHas (name) {
    const { selectionStart: start, selectionEnd: end } = this.area
    if (start === end) return false
    let index = 0
    for (const op of this.ytext.toDelta()) {
      const length = typeof op.insert === 'string' ? op.insert.length : 1
      if (index < end && index + length > start && !op.attributes?.[name]) return false
      index += length
    }
    return true
  }

  /** Sets marks on the selected characters (`{ bold: true }`, `{ link: { href } }`) or clears them
   * (`{ bold: null }`); false when nothing is selected. */
  formatSelection (marks) {
    const { selectionStart: start, selectionEnd: end } = this.area
    if (start === end) return false
    this.ytext.format(start, end - start, marks)
    return true
  }

  /** Stops following the text (the element was deleted or redrawn without it). */
  destroy () {
    this.ytext.unobserve(this.onChange)
    this.area.removeEventListener('input', this.onInput)
  }
}

/**
 * The one replacement that turns `before` into `after`: `{ index, removed, inserted }`. Where a
 * character repeats ("hel|lo" + "l") the caret (`caret`, after the input) says which one was typed;
 * a surrogate pair is never split.
 */
export function textChange (before, after, caret) {
  let suffix = 0
  const suffixLimit = Math.min(before.length, Math.max(0, after.length - caret))
  while (suffix < suffixLimit && before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix++
  if (suffix > 0 && isLowSurrogate(before.charCodeAt(before.length - suffix))) suffix--
  let prefix = 0
  const prefixLimit = Math.min(before.length, after.length) - suffix
  while (prefix < prefixLimit && before[prefix] === after[prefix]) prefix++
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--
  return { index: prefix, removed: before.length - suffix - prefix, inserted: after.slice(prefix, after.length - suffix) }
}

const isHighSurrogate = code => code >= 0xD800 && code <= 0xDBFF
const isLowSurrogate = code => code >= 0xDC00 && code <= 0xDFFF
