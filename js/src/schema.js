// Reading a mesh-tools schema JSON (what sync.open returns) and the document layout
// (docs/document-layout.md): what a Yjs client needs to edit documents the server will accept.

/** The XmlFragment that holds the root element. */
export const FRAGMENT_NAME = 'mesh'
/** The attribute that holds an element's id. */
export const ID_ATTRIBUTE = '$id'
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * The schema JSON as a model: `{ rootTag, elements: Map(tag → { tag, description, attributes, children }) }`
 * where `attributes` is `[{ name, type, enum, description }]` and `children` is
 * `{ name, tags, ordered } | null` (ordered: child i must have tags[i]); `text` is `{ name, marks } | null`
 * for an element whose text is collaborative (format "mesh-text": its one Y.XmlText child).
 */
export function schemaModel (schema) {
  const rootTag = schema.$root_tag_ref.split('/').pop()
  const elements = new Map()
  for (const [tag, definition] of Object.entries(schema.$defs)) {
    const body = definition.properties[tag]
    const attributes = []
    let children = null
    let text = null
    for (const [name, property] of Object.entries(body.properties ?? {})) {
      if (property.type === 'string' && property.format === 'mesh-text') {
        // Collaborative text (docs/adr/0013): the element's one Y.XmlText child, not an attribute.
        text = { name, marks: property.marks ?? {} }
      } else if (property.type === 'array') {
        const ordered = Array.isArray(property.prefixItems)
        const refs = ordered ? property.prefixItems : property.items.anyOf
        children = { name, ordered, tags: refs.map(ref => ref.$ref.split('/').pop()) }
      } else {
        attributes.push({ name, type: property.type, enum: property.enum ?? null, description: property.description ?? null })
      }
    }
    elements.set(tag, { tag, description: definition.description ?? body.description ?? null, attributes, children, text })
  }
  return { rootTag, elements }
}

/** An element's id (the `$id` attribute). */
export function elementId (element) {
  return element.getAttribute(ID_ATTRIBUTE)
}

/** A fresh element id as mesh-tools makes them: 8 lowercase base32 characters (40 random bits). */
export function newElementId () {
  const bytes = crypto.getRandomValues(new Uint8Array(5))
  let bits = 0
  let value = 0
  let id = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      id += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return id
}
