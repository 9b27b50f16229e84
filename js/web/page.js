// The live page of one document (mesh_tools/server/web_page.py): a tree of its elements that follows
// every edit, who is here and where, and forms derived from the schema to edit it.
import * as Y from 'yjs'
import { RoomClient, newElementId, schemaModel, elementId } from '../src/index.js'

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
  }

  note (id, message) {
    const key = id ?? ''
    problems.set(key, [...(problems.get(key) ?? []), message])
    this.schedule()
  }

  schedule () {
    if (this.scheduled) return
    this.scheduled = true
    setTimeout(() => { this.scheduled = false; this.render() }, 0)
  }

  render () {
    // Rebuilt whole, but the field being typed in keeps its focus and its unsaved text.
    const active = document.activeElement
    // A text being typed in keeps its caret where it was in the text, wherever others typed meanwhile.
    const typing = active?.dataset?.textField ? this.caretAt : null
    const editing = active?.dataset?.field
      ? { field: active.dataset.field, value: active.value, start: active.selectionStart, end: active.selectionEnd }
      : null
    const root = this.shared.root
    tree.replaceChildren(root ? this.renderElement(root, null, this.busyElements()) : element('p', { text: 'The document is empty.' }))
    this.renderPeople()
    const general = problems.get('') ?? []
    banner.hidden = general.length === 0
    banner.textContent = general.join(' · ')
    if (typing && typing.id === active.dataset.textField) {
      const area = tree.querySelector(`[data-text-field="${CSS.escape(typing.id)}"]`)
      if (area) {
        area.focus()
        const at = position => Y.createAbsolutePositionFromRelativePosition(position, this.shared.doc)?.index ?? 0
        area.setSelectionRange(at(typing.start), at(typing.end))
        this.caretAt = typing // focus() above re-took it before the selection was restored
      }
    }
    if (editing) {
      const field = tree.querySelector(`[data-field="${CSS.escape(editing.field)}"]`)
      if (field) {
        field.value = editing.value
        field.focus()
        if (field.setSelectionRange && editing.start !== null) field.setSelectionRange(editing.start, editing.end)
      }
    }
  }

  /** The caret as positions in the Yjs text, taken while the textarea shows the text as it is: they
   * keep pointing at the same characters whatever others insert or delete before them. */
  rememberCaret (area, ytext) {
    this.caretAt = {
      id: area.dataset.textField,
      start: Y.createRelativePositionFromTypeIndex(ytext, area.selectionStart),
      end: Y.createRelativePositionFromTypeIndex(ytext, area.selectionEnd)
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

  renderElement (node, parent, busy) {
    const id = elementId(node)
    const type = this.model.elements.get(node.nodeName)
    const readOnly = this.shared.readOnly
    const here = busy.get(id) ?? []
    const head = element('div', { class: 'head' },
      element('span', { class: 'tag', text: `<${node.nodeName}>` }),
      element('span', { class: 'eid', text: id ?? '' }),
      ...here.map(name => element('span', { class: 'badge', 'data-presence': name, text: name })))
    if (parent && !readOnly) head.append(element('button', { type: 'button', class: 'delete', text: 'delete', onclick: () => this.remove(parent, node) }))
    const box = element('section', { class: here.length ? 'element busy' : 'element', 'data-element-id': id, 'data-tag': node.nodeName }, head)
    if (type) box.append(this.renderAttributes(node, id, type, readOnly))
    if (type?.text) box.append(this.renderText(node, id, type.text, readOnly))
    for (const message of problems.get(id) ?? []) box.append(element('p', { class: 'violation error', text: message }))
    const children = element('div', { class: 'children' })
    for (const child of node.toArray()) {
      if (child instanceof Y.XmlElement) children.append(this.renderElement(child, node, busy))
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

  /** A textarea on the element's Y.XmlText: each input becomes the smallest delete and insert, so a
   * person's typing merges per character with agents' edits; marks are kept by the text, not shown. */
  renderText (node, id, text, readOnly) {
    const ytext = node.toArray().find(child => child instanceof Y.XmlText)
    const value = ytext ? plainText(ytext) : ''
    const area = element('textarea', { 'data-text-field': id, 'aria-label': `${text.name} of ${id}`, disabled: readOnly || !ytext, rows: 3 })
    area.value = value
    area.addEventListener('input', () => {
      const before = plainText(ytext)
      const after = area.value
      let start = 0
      while (start < before.length && start < after.length && before[start] === after[start]) start++
      let end = 0
      while (end < before.length - start && end < after.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++
      this.shared.doc.transact(() => {
        if (before.length - start - end > 0) ytext.delete(start, before.length - start - end)
        if (after.length - start - end > 0) ytext.insert(start, after.slice(start, after.length - end))
      })
      this.rememberCaret(area, ytext)
    })
    for (const event of ['focus', 'keyup', 'mouseup', 'select']) {
      area.addEventListener(event, () => { if (ytext) this.rememberCaret(area, ytext) })
    }
    return element('label', { class: 'text', text: text.name }, area)
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

/** The characters of a Y.XmlText (toString() would render its marks as tags). */
function plainText (ytext) {
  return ytext.toDelta().map(op => typeof op.insert === 'string' ? op.insert : '').join('')
}

main().catch(fail)
