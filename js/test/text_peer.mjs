// A plain Yjs client for tests/document/test_text_yjs.py (not a Node test itself): it edits a paragraph's text the way a browser
// editor would, beside a Python replica. One JSON object per line on stdin, one answer per line on stdout.
//   {"update": b64}                 apply an update
//   {"edit": [[op, ...args], ...]}  edit the first paragraph's text in one transaction, answer {"update"}
//                                   (everything since the state before the edit): ["insert", index, text,
//                                   attrs?], ["delete", index, length], ["format", index, length, attrs]
//   {"read": true}                  answer {"delta": text.toDelta()}
// Indices are JavaScript string offsets (UTF-16 code units), as in every Yjs editor.
import * as readline from "node:readline";
import * as Y from "yjs";

const doc = new Y.Doc();
const text = () => doc.getXmlFragment("mesh").get(0).get(0).get(0);
const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.update !== undefined) {
    Y.applyUpdate(doc, Buffer.from(command.update, "base64"));
    out({ ok: true });
  } else if (command.edit !== undefined) {
    const before = Y.encodeStateVector(doc);
    doc.transact(() => {
      for (const [op, index, value, attrs] of command.edit) {
        if (op === "insert") text().insert(index, value, attrs);
        else if (op === "delete") text().delete(index, value);
        else if (op === "format") text().format(index, value, attrs);
      }
    });
    out({ update: Buffer.from(Y.encodeStateAsUpdate(doc, before)).toString("base64") });
  } else if (command.read) {
    out({ delta: text().toDelta() });
  }
}
