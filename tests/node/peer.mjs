// A Yjs peer in node, driven by the interop tests (tests/interop/peers.py, tests/interop/test_js.py).
//
// Usage:
//   node peer.mjs --server ws://127.0.0.1:8888/ysync/rooms --room notes --token T
//                 [--seed 1] [--ops 40] [--max-delay 20] [--hold] [--name js-1]
//                 [--timeout 60] [--settle 0]
//
// It joins the room with y-websocket's WebsocketProvider, waits for the first sync, then makes
// `--ops` seeded random edits of the root Y.Text "content" (words inserted at random places,
// some with attributes, deletions, bold/italic formatting, image embeds), with random delays up
// to `--max-delay` ms. With `--hold` the edits wait for an `edit` command instead.
//
// It talks JSON lines. On stdout, events: {"event":"ready"}, {"event":"edited"}, and finally
// {"event":"final","text":...,"delta":...}. On stdin, commands, each answered with its "id":
//   {"id":1,"cmd":"edit"}                  start the edits; answered once they are all made
//   {"id":2,"cmd":"state"}                 {"text","delta","stateVector"}
//   {"id":3,"cmd":"presence","user":{..}}  set the awareness field "user"
//   {"id":4,"cmd":"peers"}                 {"peers": {clientID: awareness state}}
//   {"id":5,"cmd":"stop"}                  leave the room, print "final", exit 0
// End of stdin means stop. After `--settle` ms without a change of the document once the edits
// are made (0: never), or after `--timeout` s in any case, it prints "final" and exits (code 2
// for the timeout), so it never hangs a test run.

import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const IMAGE = { image: 'https://example.org/x.png' }
const WORDS = [
  'alpha', 'beta', 'gamma', 'delta', 'kernel', 'notebook', 'cell', 'room', 'peer', 'update',
  'state', 'vector', 'merge', 'quill', 'yjs', 'crdt', 'é', 'naïve', 'Grüße', '中文', 'λ'
]

function parseArgs (argv) {
  const args = {
    server: '', room: '', token: '', seed: 1, ops: 40, maxDelay: 20, hold: false,
    name: 'js', timeout: 60, settle: 0
  }
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`)
    if (typeof args[key] === 'boolean') {
      args[key] = true
    } else {
      const value = argv[++i]
      if (value === undefined) throw new Error(`option ${argv[i - 1]} needs a value`)
      args[key] = typeof args[key] === 'number' ? Number(value) : value
    }
  }
  if (!args.server || !args.room) throw new Error('--server and --room are required')
  return args
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with its seed. */
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const emit = (message) => process.stdout.write(JSON.stringify(message) + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const args = parseArgs(process.argv.slice(2))
const random = prng(args.seed)
const int = (n) => Math.floor(random() * n) // 0 <= int(n) < n
const pick = (items) => items[int(items.length)]

const doc = new Y.Doc()
const ytext = doc.getText('content')
const provider = new WebsocketProvider(args.server, args.room, doc, {
  WebSocketPolyfill: WebSocket,
  params: args.token ? { token: args.token } : {},
  disableBc: true
})
provider.awareness.setLocalStateField('user', { name: args.name, color: '#f7df1e' })

let lastChange = Date.now()
let edited = false
let finished = false
doc.on('update', () => { lastChange = Date.now() })

function state () {
  return {
    text: ytext.toString(),
    delta: ytext.toDelta(),
    stateVector: Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(doc)))
  }
}

function finish (code, extra = {}) {
  if (finished) return
  finished = true
  emit({ event: 'final', name: args.name, clientID: doc.clientID, ...state(), ...extra })
  // destroy() removes our awareness state and closes the socket; give the goodbye a moment.
  provider.destroy()
  setTimeout(() => process.exit(code), 100).unref()
}

function editOnce () {
  const length = ytext.length
  const at = int(length + 1)
  const roll = random()
  if (roll < 0.40 || length < 8) {
    const word = pick(WORDS) + pick([' ', ' ', ' ', '\n'])
    if (random() < 0.25) {
      ytext.insert(at, word, pick([{ bold: true }, { italic: true }, { bold: true, italic: true }]))
    } else {
      ytext.insert(at, word)
    }
  } else if (roll < 0.60) {
    const start = int(length)
    ytext.delete(start, Math.min(1 + int(5), length - start))
  } else if (roll < 0.85) {
    const start = int(length)
    const attributes = pick([{ bold: true }, { italic: true }, { bold: null }, { italic: null }])
    ytext.format(start, Math.min(1 + int(8), length - start), attributes)
  } else {
    ytext.insertEmbed(at, IMAGE)
  }
}

async function edit () {
  for (let done = 0; done < args.ops;) {
    // Sometimes several edits in one transaction: one update on the wire.
    const batch = random() < 0.2 ? 2 + int(3) : 1
    doc.transact(() => {
      for (let i = 0; i < batch && done < args.ops; i++, done++) editOnce()
    })
    await sleep(int(args.maxDelay + 1))
  }
  edited = true
  lastChange = Date.now()
}

async function waitSynced () {
  if (provider.synced) return
  await new Promise((resolve) => {
    const onSync = (synced) => {
      if (synced) {
        provider.off('sync', onSync)
        resolve()
      }
    }
    provider.on('sync', onSync)
  })
}

async function handle (line) {
  let command
  try {
    command = JSON.parse(line)
  } catch (error) {
    emit({ event: 'error', message: `not a JSON command: ${line}` })
    return
  }
  const { id, cmd } = command
  switch (cmd) {
    case 'edit':
      await edit()
      emit({ id, event: 'edited' })
      break
    case 'state':
      emit({ id, ...state() })
      break
    case 'presence':
      provider.awareness.setLocalStateField('user', command.user)
      emit({ id, ok: true })
      break
    case 'peers':
      emit({ id, peers: Object.fromEntries(provider.awareness.getStates()) })
      break
    case 'stop':
      finish(0, { id })
      break
    default:
      emit({ id, event: 'error', message: `unknown command ${cmd}` })
  }
}

setTimeout(() => finish(2, { timeout: true }), args.timeout * 1000).unref()
const keepAlive = setInterval(() => {
  if (args.settle > 0 && edited && Date.now() - lastChange > args.settle) finish(0)
}, 50)
provider.on('closed', ({ code, reason }) => {
  emit({ event: 'error', message: `the server closed the room: ${code} ${reason}` })
  finish(1)
})

// Commands are handled one at a time, in order, while edits run.
let queue = Promise.resolve()
const input = readline.createInterface({ input: process.stdin })
input.on('line', (line) => {
  if (line.trim()) queue = queue.then(() => handle(line))
})
input.on('close', () => { queue = queue.then(() => finish(0)) })

await waitSynced()
emit({ event: 'ready', name: args.name, clientID: doc.clientID })
if (!args.hold) {
  await edit()
  emit({ event: 'edited' })
}
process.on('exit', () => clearInterval(keepAlive))
