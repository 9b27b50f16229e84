// The official JavaScript client of mesh-tools rooms (docs/clients.md): ESM, on yjs, y-protocols and lib0.
export { RoomClient } from './room.js'
export { MeshDocument } from './document.js'
export { MeshError, tokenIdentity } from './protocol.js'
export { FRAGMENT_NAME, ID_ATTRIBUTE, schemaModel, elementId, newElementId } from './schema.js'
