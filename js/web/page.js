// The live page of one document (mesh_tools/server/web_page.py): a tree of its elements that follows
// every edit, who is here and where, and forms derived from the schema to edit it.
import * as Y from 'yjs'
import { RoomClient, newElementId, schemaModel, elementId } from '../src/index.js'
import { TextBinding } from './text_binding.js'

const { room, path } = document.body.dataset
const status = document.getElementById('status')
const people = document.getElementById('people')
const tree = document.getElementById('tree')
const banner = document.getElementById('errors')
/** Violations by element id (from the server's sync.rejected, or this page's own checks). */
const problems = new Map()

function element (tag, attributes = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') node.textContent = value
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value)
    else if (value === true) node.setAttribute(name, '')
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value))
  }
  node.append(...children)
  return node
}

function showStatus (text, kind) {
  status.textContent = text
  status.className = kind
}

function fail (error) {
  const code = error?.code ? `${error.code}: ` : ''
  showStatus(`Cannot open ${path}: ${code}${error?.message ?? error}`, 'error')
  if (error?.hint) status.append(element('br'), element('span', { text: `Hint: ${error.hint}` }))
}

async function main () {
  const token = new URLSearchParams(location.hash.slice(1)).get('token')
  if (!token) {
    fail({ code: 'unauthorized', message: 'no participant token in the address', hint: 'open the URL that ends in #token=…, as `mesh-tools demo` prints it' })
    return
  }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const client = new RoomClient({ url: `${scheme}://${location.host}`, room, token })
  client.on('status', ({ connected, error }) => {
    if (error) fail(error)
    else if (connected) showStatus(`Connected as ${client.user.name}`, 'connected' + (shared?.readOnly ? ' read-only' : ''))
    else showStatus('Disconnected: reconnecting…', 'disconnected')
  })
  let shared = null
  try {
    await client.connect()
    shared = await client.openDocument(path, { create: false })
    await shared.synced
  } catch (error) {
    fail(client.error ?? error)
    return
  }
  showStatus(`Connected as ${client.user.name}`, 'connected' + (shared.readOnly ? ' read-only' : ''))
  document.body.classList.toggle('read-only', shared.readOnly)
  const page = new Page(shared, schemaModel(shared.schema))
  window.meshPage = page // for people poking around in the console, and for tests
  page.render()
}

class Page {
  constructor (shared, model) {
    this.shared = shared
    this.model = model
    this.scheduled = false
    this.pressed = false
    /** Each text on the page, by its Y.XmlText: its textarea binding and its mark buttons, kept across
     * redraws (the textarea being typed in keeps its focus, selection and composition, a link's href
     * typed but not applied stays), and following the text between redraws. */
    this.texts = new Map()
    shared.doc.on('update', () => this.schedule())
    shared.awareness.on('change', () => this.schedule())
    shared.on('rejected', violations => {
      for (const violation of violations) this.note(violation.element_id, `${violation.code}: ${violation.message} (the server undid it)`)
    })
    shared.on('closed', error => fail(error))
    tree.addEventListener('focusin', event => {
      const holder = event.target.closest('[data-element-id]')
      if (holder) shared.focus(holder.dataset.elementId)
    })
    // A redraw between a press and its release would replace the button under the pointer, and the
    // click would land nowhere (pressing a button moves the focus, which itself asks for a redraw):
    // redraws wait for the release.
    document.addEventListener('pointerdown', () => { this.pressed = true }, true)
    const release = () => {
      this.pressed = false
      if (this.scheduled) setTimeout(() => this.redraw(), 0)
    }
    for (const type of ['pointerup', 'pointercancel']) document.addEventListener(type, release, true)
    window.addEventListener('blur', release)
  }

  note (id, message) {
    const key = id ?? ''
    problems.set(key, [...(problems.get(key) ?? []), message])
    this.schedule()
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    setTimeout(() => this.redraw(), 0)
  }

  redraw () {
    if (this.pressed || !this.scheduled) return
    this.scheduled = false
    this.render()
  }

  render () {
    // Rebuilt whole, but the field being typed in keeps its focus and its unsaved text.
    const active = document.activeElement
    const editing = active?.dataset?.field
      ? { field: active.dataset.field, value: active.value, start: active.selectionStart, end: active.selectionEnd }
      : null
    const drawing = { busy: this.busyElements(), texts: new Map(), typing: active?.dataset?.textField ? active : null, spot: null }
    const root = this.shared.root
    const fresh = root ? this.renderElement(root, null, drawing) : element('p', { text: 'The document is empty.' })
    // The new drawing goes in beside the old one, so the textarea being typed in moves between two
    // places in the page and never leaves it (leaving would take its focus).
    tree.append(fresh)
    if (drawing.spot) moveFocused(drawing.typing, drawing.spot)
    for (const old of [...tree.childNodes]) if (old !== fresh) old.remove()
    for (const [ytext, { binding }] of this.texts) if (!drawing.texts.has(ytext)) binding.destroy()
    this.texts = drawing.texts
    this.renderPeople()
    const general = problems.get('') ?? []
    banner.hidden = general.length === 0
    banner.textContent = general.join(' · ')
    if (editing) {
      const field = tree.querySelector(`[data-field="${CSS.escape(editing.field)}"]`)
      if (field) {
        field.value = editing.value
        field.focus()
        if (field.setSelectionRange && editing.start !== null) field.setSelectionRange(editing.start, editing.end)
      }
    }
  }

  busyElements () {
    const busy = new Map()
    for (const state of this.shared.peers.values()) {
      if (state?.user && state.element) busy.set(state.element, [...(busy.get(state.element) ?? []), state.user.name])
    }
    return busy
  }

  renderPeople () {
    const me = this.shared.awareness.getLocalState()
    const everyone = [me, ...this.shared.peers.values()].filter(state => state?.user)
    people.replaceChildren(...everyone.map(state => element('span', {
      class: `person ${state.user.role}`, 'data-person': state.user.name, 'data-role': state.user.role
    }, state === me ? `${state.user.name} (you)` : state.user.name,
    state.element ? element('span', { class: 'where', text: `at ${state.element}` }) : '')))
  }

  renderElement (node, parent, drawing) {
    const id = elementId(node)
    const type = this.model.elements.get(node.nodeName)
    const readOnly = this.shared.readOnly
    const here = drawing.busy.get(id) ?? []
    const head = element('div', { class: 'head' },
      element('span', { class: 'tag', text: `<${node.nodeName}>` }),
      element('span', { class: 'eid', text: id ?? '' }),
      ...here.map(name => element('span', { class: 'badge', 'data-presence': name, text: name })))
    if (parent && !readOnly) head.append(element('button', { type: 'button', class: 'delete', text: 'delete', onclick: () => this.remove(parent, node) }))
    const box = element('section', { class: here.length ? 'element busy' : 'element', 'data-element-id': id, 'data-tag': node.nodeName }, head)
    if (type) box.append(this.renderAttributes(node, id, type, readOnly))
    if (type?.text) box.append(this.renderText(node, id, type.text, readOnly, drawing))
    for (const message of problems.get(id) ?? []) box.append(element('p', { class: 'violation error', text: message }))
    const children = element('div', { class: 'children' })
    for (const child of node.toArray()) {
      if (child instanceof Y.XmlElement) children.append(this.renderElement(child, node, drawing))
    }
    box.append(children)
    if (type?.children && !readOnly) {
      const allowed = type.children.ordered ? type.children.tags.slice(node.length, node.length + 1) : type.children.tags
      if (allowed.length) {
        const picker = element('select', { 'aria-label': 'tag of the new child' }, ...allowed.map(tag => element('option', { value: tag, text: tag })))
        box.append(element('form', {
          class: 'add-child',
          onsubmit: event => { event.preventDefault(); this.add(node, picker.value) }
        }, picker, element('button', { type: 'submit', text: 'add child' })))
      }
    }
    return box
  }

  renderAttributes (node, id, type, readOnly) {
    const form = element('div', { class: 'attributes' })
    for (const attribute of type.attributes) {
      const value = node.getAttribute(attribute.name)
      const field = `${id}.${attribute.name}`
      const common = { 'data-field': field, 'data-attribute': attribute.name, id: `f-${field}`, disabled: readOnly, title: attribute.description ?? '' }
      let input
      if (attribute.enum) {
        input = element('select', common, element('option', { value: '', text: '—' }),
          ...attribute.enum.map(option => element('option', { value: JSON.stringify(option), text: String(option), selected: option === value })))
        input.addEventListener('change', () => this.set(node, attribute, input.value === '' ? null : JSON.parse(input.value)))
      } else if (attribute.type === 'boolean') {
        input = element('input', { ...common, type: 'checkbox', checked: value === true })
        input.addEventListener('change', () => this.set(node, attribute, input.checked))
      } else if (attribute.type === 'number' || attribute.type === 'integer') {
        input = element('input', { ...common, type: 'number', step: attribute.type === 'integer' ? '1' : 'any', value: value ?? '' })
        input.addEventListener('change', () => this.set(node, attribute, input.value === '' ? null : Number(input.value)))
      } else {
        input = element('input', { ...common, type: 'text', value: value ?? '' })
        input.addEventListener('change', () => this.set(node, attribute, input.value === '' ? null : input.value))
      }
      form.append(element('label', { for: `f-${field}`, text: attribute.name }), input)
    }
    return form
  }

  /** The element's text in a textarea bound to its Y.XmlText (text_binding.js): the person's typing
   * merges per character with agents' edits. Buttons set the marks the schema allows; the marks show
   * below the textarea as runs of marked characters. */
  renderText (node, id, text, readOnly, drawing) {
    const label = element('label', { class: 'text', text: text.name })
    const attributes = { 'data-text-field': id, 'aria-label': `${text.name} of ${id}`, rows: 3 }
    const ytext = node.toArray().find(child => child instanceof Y.XmlText)
    if (!ytext) {
      // Only a root or a foreign client's element lacks its text until the first write (ADR 0013).
      label.append(element('textarea', { ...attributes, disabled: true }))
      return element('div', { class: 'text-editor' }, label)
    }
    let editor = this.texts.get(ytext)
    if (!editor) {
      const binding = new TextBinding(ytext, element('textarea', attributes))
      editor = { binding, buttons: Object.keys(text.marks).length ? this.markButtons(binding, id, text.marks) : null }
    }
    editor.binding.area.disabled = readOnly
    drawing.texts.set(ytext, editor)
    if (editor.binding.area === drawing.typing) {
      drawing.spot = document.createComment('the textarea being typed in')
      label.append(drawing.spot)
    } else {
      label.append(editor.binding.area)
    }
    const shown = element('div', { class: 'text-editor' }, label)
    if (editor.buttons && !readOnly) shown.append(editor.buttons)
    const runs = ytext.toDelta().filter(op => typeof op.insert === 'string' && Object.keys(op.attributes ?? {}).length)
    if (runs.length) {
      shown.append(element('p', {
        class: 'marks-shown',
        'data-marks-of': id,
        text: runs.map(op => `${Object.entries(op.attributes).map(markName).join('+')}: "${op.insert}"`).join(' · ')
      }))
    }
    return shown
  }

  /** A button per mark the schema allows: it sets the mark on the selected characters, or clears it
   * when all of them carry it; a mark with attributes (a link's href) takes them from inputs beside it. */
  markButtons (binding, id, marks) {
    const bar = element('div', { class: 'marks', role: 'toolbar', 'aria-label': `marks of ${id}` })
    for (const [name, names] of Object.entries(marks)) {
      const inputs = names.map(attribute => [attribute, element('input', {
        type: 'text', placeholder: attribute, 'aria-label': `${attribute} of the ${name} mark`, 'data-field': `${id}.$marks.${name}.${attribute}`
      })])
      bar.append(element('button', {
        type: 'button',
        'data-mark': name,
        text: name,
        title: `${name} on the selected characters, or off where all of them have it`,
        onmousedown: event => event.preventDefault(), // the textarea keeps its focus and selection
        onclick: () => this.mark(binding, id, name, inputs)
      }), ...inputs.map(([, input]) => input))
    }
    return bar
  }

  /** Mark button `name` pressed: clears the mark where every selected character has it, else sets it. */
  mark (binding, id, name, inputs) {
    problems.delete(id)
    let value = null
    if (!binding.selectionHas(name)) {
      const empty = inputs.find(([, input]) => input.value === '')
      if (empty) {
        this.note(id, `invalid_value: the ${name} mark needs its ${empty[0]}`)
        return
      }
      value = inputs.length ? Object.fromEntries(inputs.map(([attribute, input]) => [attribute, input.value])) : true
    }
    if (!binding.formatSelection({ [name]: value })) this.note(id, `invalid_operation: select the characters to mark ${name} first`)
  }

  set (node, attribute, value) {
    const id = elementId(node)
    problems.delete(id)
    if (value !== null && attribute.type === 'integer' && !Number.isInteger(value)) {
      this.note(id, `invalid_value: ${attribute.name} must be a whole number, not ${value}`)
      return
    }
    if (value !== null && (attribute.type === 'number' || attribute.type === 'integer') && !Number.isFinite(value)) {
      this.note(id, `invalid_value: ${attribute.name} must be a number`)
      return
    }
    if (value === null) node.removeAttribute(attribute.name)
    else node.setAttribute(attribute.name, value)
  }

  add (parent, tag) {
    const child = new Y.XmlElement(tag)
    child.setAttribute('$id', newElementId())
    if (this.model.elements.get(tag)?.text) child.insert(0, [new Y.XmlText()])
    parent.push([child])
    this.shared.focus(elementId(child))
  }

  remove (parent, node) {
    const index = parent.toArray().indexOf(node)
    if (index >= 0) parent.delete(index, 1)
  }
}

/** How a mark reads on the page: `bold`, or `link https://…` with its attributes. */
function markName ([name, value]) {
  return typeof value === 'object' ? [name, ...Object.values(value)].join(' ') : name
}

/** Puts the focused textarea where `spot` is. moveBefore keeps its focus, selection and IME composition;
 * browsers without it (Chromium before 133) re-focus it and restore its selection and scroll. */
function moveFocused (area, spot) {
  if (spot.parentNode.moveBefore) {
    spot.parentNode.moveBefore(area, spot)
  } else {
    const { selectionStart, selectionEnd, selectionDirection, scrollTop } = area
    spot.before(area)
    area.focus({ preventScroll: true })
    area.setSelectionRange(selectionStart, selectionEnd, selectionDirection)
    area.scrollTop = scrollTop
  }
  spot.remove()
}

main().catch(fail)
