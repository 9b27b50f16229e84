// How the page reads a person's input into the text (web/text_binding.js): the one replacement that
// turns what the textarea showed into what it holds, at the place the person typed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { textChange } from '../web/text_binding.js'

const apply = (before, { index, removed, inserted }) => before.slice(0, index) + inserted + before.slice(index + removed)

test('typing or deleting among repeated characters lands where the caret says', () => {
  // "hel|lo" + "l": an insert at 3, not at 4 (the same text, but not the same place for concurrent edits).
  assert.deepEqual(textChange('hello', 'helllo', 4), { index: 3, removed: 0, inserted: 'l' })
  assert.deepEqual(textChange('hello', 'helllo', 5), { index: 4, removed: 0, inserted: 'l' })
  // Backspace after the first l, and Delete before the second.
  assert.deepEqual(textChange('hello', 'helo', 2), { index: 2, removed: 1, inserted: '' })
  assert.deepEqual(textChange('hello', 'helo', 3), { index: 3, removed: 1, inserted: '' })
  assert.deepEqual(textChange('aaaa', 'aaaa', 2), { index: 2, removed: 0, inserted: '' })
})

test('a surrogate pair is replaced whole, never split', () => {
  assert.deepEqual(textChange('a😀b', 'a😃b', 3), { index: 1, removed: 2, inserted: '😃' })
  assert.deepEqual(textChange('😀', '😀😀', 4), { index: 2, removed: 0, inserted: '😀' })
})

test('any single edit, with the caret after it, is found exactly (random cases)', () => {
  let seed = 12
  const random = limit => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % limit }
  const letters = ['a', 'b', '😀']
  const word = length => Array.from({ length }, () => letters[random(3)]).join('')
  for (let i = 0; i < 5000; i++) {
    const before = word(random(8))
    // Edits at character boundaries (a textarea never puts the caret inside a pair).
    const boundaries = [0, ...Array.from(before.matchAll(/./gu), m => m.index + m[0].length)]
    const from = boundaries[random(boundaries.length)]
    const to = boundaries.filter(b => b >= from)[random(boundaries.filter(b => b >= from).length)]
    const inserted = word(random(3))
    const after = before.slice(0, from) + inserted + before.slice(to)
    const change = textChange(before, after, from + inserted.length)
    assert.equal(apply(before, change), after, JSON.stringify({ before, after, change }))
    assert.ok(!/^[\uDC00-\uDFFF]/.test(before.slice(change.index)), `split a pair: ${JSON.stringify({ before, change })}`)
    if (from === to || inserted === '') assert.deepEqual(change, { index: from, removed: to - from, inserted }, JSON.stringify({ before, after }))
  }
})
