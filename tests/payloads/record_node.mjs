// Drive the published posthog-node (fixtures/node_modules) against the loopback recorder.
// Called by record.py: node record_node.mjs <origin> <token> <scenario: gzip|plain> [package]
// (package: posthog-node, or an npm alias of another version such as posthog-node-4).
// Prints the truth (the messages the SDK reports as sent in its 'flush' event) as one JSON line.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../fixtures/package.json', import.meta.url))
const [origin, token, scenario, pkg = 'posthog-node'] = process.argv.slice(2)
if (!origin || !token || !['gzip', 'plain'].includes(scenario)) {
    console.error('usage: node record_node.mjs <origin> <token> gzip|plain [package]')
    process.exit(2)
}
const { PostHog } = require(pkg)
const manifest = new URL(`../../fixtures/node_modules/${pkg}/package.json`, import.meta.url)
const { version } = JSON.parse(readFileSync(manifest, 'utf8')) // not in its exports map
const hasBeforeSend = Number(version.split('.')[0]) >= 5 // posthog-node 4 has no before_send

const beforeSend = []
const sent = []
const errors = []
const client = new PostHog(token, {
    host: origin,
    disableCompression: scenario === 'plain',
    fetchRetryCount: 0,
    before_send: (event) => {
        beforeSend.push(event.event)
        return event
    },
})
client.on('flush', (messages) => sent.push(...messages))
client.on('error', (error) => errors.push(String(error)))

client.capture({ distinctId: 'node-user-1', event: 'node_event', properties: { n: 1 } })
client.capture({
    distinctId: 'node-user-1',
    event: 'node_event',
    properties: { n: 2, text: 'caf\u00e9 \u2603' },
    groups: { company: 'acme' },
})
client.capture({
    distinctId: 'node-user-2',
    event: 'node_timestamped',
    properties: { n: 3 },
    timestamp: new Date('2024-05-06T07:08:09.123Z'),
})
client.identify({
    distinctId: 'node-user-1',
    properties: { email: 'node@example.com', $set_once: { first_seen: '2024-01-01' } },
})
client.alias({ distinctId: 'node-user-1', alias: 'node-alias-1' })
await client.shutdown()

if (errors.length) {
    console.error(`posthog-node reported errors: ${errors.join('; ')}`)
    process.exit(1)
}
if (hasBeforeSend && sent.length !== beforeSend.length) {
    console.error(`before_send saw ${beforeSend.length} events, flush reported ${sent.length}`)
    process.exit(1)
}
const truth = sent.map((m) => ({ uuid: m.uuid, event: m.event, distinct_id: m.distinct_id }))
console.log(JSON.stringify(truth))
