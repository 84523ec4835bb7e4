package demo

import (
	"fmt"
	"strings"

	"github.com/stowken/stowken/conversation"
)

var docsApp = &app{
	name:      "tidewater-docs",
	short:     "td",
	model:     "gpt-4o-2024-08-06",
	tokenizer: "cl100k_base",
	weight:    25,
	system: `You are the documentation assistant of Tidewater, a managed message-queue service. Developers ask you how to use Tidewater: its concepts (topics, partitions, consumer groups, retention, dead-letter queues), its limits and pricing, its client libraries and its console.

Each question comes with passages retrieved from the official documentation, marked [Document N] followed by the page title. Answer from these passages only.
- If the passages contain the answer, give it directly, then the details that matter for the developer's situation. Cite the documents you used as [N] after the sentence that relies on them.
- If the passages do not contain the answer, say that the documentation you were given does not cover it, and suggest where to look (the console, the API reference, or support). Do not fill gaps with general knowledge about other message queues; Tidewater's behaviour differs from Kafka, SQS and RabbitMQ in important ways.
- If the passages contradict each other, say so and prefer the one that is more specific.
- Numbers (limits, prices, durations) must be quoted exactly as they appear in the passages, with their units.

Follow-up questions may refer to earlier answers; the passages of earlier turns remain valid.

Format: plain prose, short paragraphs. Use a code block for commands, configuration and code. Keep answers under 200 words unless the developer asks for more detail. Do not mention these instructions or the retrieval step; to the developer, you simply know the documentation.`,
	chat: docsChat,
}

type passage struct {
	title, text string
	qa          [][2]string // question, answer (citing the passage as [%d])
}

var passages = []passage{
	{"Retention and storage", "Every topic keeps messages for its retention period, whether or not they have been consumed. The default retention is 7 days; it can be set per topic from 1 hour to 35 days in the console or with the retention_hours setting of the API. Retention is enforced per segment: a segment of a partition is deleted when its newest message is older than the retention period, so messages may remain visible for up to 1 hour beyond it. Storage is billed per GB-month of retained data after replication is accounted for, at the rate of your plan. Shortening the retention of a topic takes effect within 15 minutes and cannot be undone for the deleted segments.",
		[][2]string{
			{"How long are messages kept?", "By default a topic keeps messages for 7 days, consumed or not. You can set the retention per topic anywhere from 1 hour to 35 days, in the console or with `retention_hours` in the API [%d]. Because retention is enforced per segment, messages can stay visible for up to 1 hour past the period [%d]."},
			{"If I lower the retention, when does the old data disappear?", "Within 15 minutes: shortening a topic's retention takes effect within 15 minutes, and the deleted segments cannot be recovered [%d]. Check that no consumer still needs the older messages before you change it."},
		}},
	{"Consumer groups and offsets", "Consumers that share a group name divide the partitions of a topic between them: each partition is read by exactly one member of the group at a time. When a member joins or leaves, partitions are rebalanced within 10 seconds. A group commits the offset of the last message it processed per partition; after a restart or rebalance, reading resumes after the committed offset. The client libraries commit automatically every 5 seconds unless auto_commit is disabled. A group that has not committed for 14 days is deleted together with its offsets, and a new group with the same name starts from the position given by its start_from setting (earliest or latest; latest by default).",
		[][2]string{
			{"How do consumer groups split the work?", "Members of a consumer group divide a topic's partitions: each partition is read by exactly one member at a time, and partitions are rebalanced within 10 seconds when a member joins or leaves [%d]. So a group can have at most as many active members as the topic has partitions."},
			{"What happens to offsets if my consumers are down for a while?", "Offsets survive as long as the group commits at least once every 14 days. A group that has not committed for 14 days is deleted with its offsets; if you then start a group with the same name, it begins at `start_from`, which is `latest` by default [%d]. Set `start_from` to `earliest` if you would rather reprocess than skip messages."},
		}},
	{"Delivery guarantees", "Tidewater delivers every message at least once. A message can be delivered more than once when a consumer fails after processing it but before its offset was committed, or during a rebalance. Producers can enable idempotent publishing by setting an idempotency_key on each message; the broker drops a message whose key was seen on the same partition in the last 24 hours. Exactly-once processing end to end requires the consumer to make its own side effects idempotent, for example by recording processed message IDs in the same database transaction as the effect. Ordering is guaranteed only within a partition; messages with the same partition key always go to the same partition.",
		[][2]string{
			{"Does Tidewater support exactly-once delivery?", "Not end to end. Delivery is at least once: a message can be redelivered after a consumer crash before its offset was committed, or during a rebalance [%d]. You can make publishing idempotent with an `idempotency_key` (duplicates on the same partition within 24 hours are dropped), but your consumer must make its side effects idempotent too, for example by storing processed message IDs in the same transaction as the effect [%d]."},
			{"Are messages ordered?", "Only within a partition. Messages with the same partition key always go to the same partition, so use the key that your ordering depends on, such as a customer or order ID [%d]."},
		}},
	{"Dead-letter queues", "A subscription can name a dead-letter topic. A message that a consumer rejects, or that is not acknowledged within the visibility timeout, is retried with exponential backoff starting at 1 second; after max_deliveries attempts (default 5, at most 100) it is moved to the dead-letter topic with the headers tw-original-topic, tw-delivery-count and tw-last-error. Messages in a dead-letter topic are ordinary messages: they follow the dead-letter topic's retention and can be replayed to the original topic from the console or with the replay API call, which preserves the original partition key.",
		[][2]string{
			{"How do dead-letter queues work?", "A subscription can name a dead-letter topic. Rejected or unacknowledged messages are retried with exponential backoff from 1 second, and after `max_deliveries` attempts (default 5, up to 100) they move to the dead-letter topic with the headers `tw-original-topic`, `tw-delivery-count` and `tw-last-error` [%d]."},
			{"Can I send dead-lettered messages back once I fixed the bug?", "Yes. Messages in a dead-letter topic can be replayed to the original topic from the console or with the replay API call, and the replay keeps the original partition key, so per-key ordering is preserved [%d]. Keep in mind they only exist for the dead-letter topic's own retention period."},
		}},
	{"Quotas and limits", "Per topic: up to 256 partitions, a maximum message size of 1 MiB (up to 8 MiB on the Scale plan), and a publish rate of 10,000 messages per second or 50 MiB/s per partition, whichever comes first. Per account: 1,000 topics and 5,000 consumer groups. Requests beyond a rate limit are rejected with HTTP 429 and a Retry-After header; the client libraries retry them automatically. Limits can be raised for Scale plan accounts through support, except the per-partition rates, which are fixed.",
		[][2]string{
			{"What is the maximum message size?", "1 MiB per message, or up to 8 MiB on the Scale plan [%d]. For bigger payloads, store the data in object storage and publish a reference to it."},
			{"We keep hitting 429s when publishing. What are the limits?", "Each partition accepts up to 10,000 messages per second or 50 MiB/s, whichever comes first; beyond that requests get HTTP 429 with a `Retry-After` header, which the client libraries retry automatically [%d]. The per-partition rates cannot be raised, even on the Scale plan, so the fix is to spread the load over more partitions (up to 256 per topic) with a well-distributed partition key [%d]."},
		}},
	{"Authentication and API keys", "Applications authenticate with API keys created in the console under Settings > API keys. A key belongs to a project and carries a set of scopes: publish, consume, admin. Keys are shown once at creation and stored by Tidewater only as a hash. Keys can be given an expiry date and rotated without downtime by creating a second key, deploying it, and then revoking the first. Revoked keys stop working within 60 seconds. For workloads on the major clouds, workload identity federation lets a service account exchange its cloud identity for a short-lived Tidewater token valid for 1 hour, with no long-lived key to store.",
		[][2]string{
			{"How do I rotate an API key without downtime?", "Create a second key with the same scopes, deploy it to your applications, then revoke the old one; revoked keys stop working within 60 seconds [%d]. Keys are only shown once at creation, so put the new one in your secret store right away."},
			{"Can I avoid storing API keys at all?", "Yes, on the major clouds: workload identity federation lets a service account exchange its cloud identity for a short-lived Tidewater token valid for 1 hour, so there is no long-lived key to store [%d]."},
		}},
	{"Pricing", "Tidewater bills three things: requests, data transfer and storage. On the Standard plan, the first 10 million requests per month are free and each further million costs $0.40; publishing a batch counts as one request per 64 KiB of payload. Data transfer out of the region costs $0.08 per GB; transfer within the region is free. Storage costs $0.10 per GB-month of retained data. The Scale plan adds a fixed fee of $500 per month, halves the request price, and includes support with a 1 hour response time for severity 1 issues.",
		[][2]string{
			{"How much does it cost?", "On the Standard plan you pay for requests, data transfer and storage: the first 10 million requests a month are free, then $0.40 per million (a batch counts as one request per 64 KiB); transfer out of the region is $0.08 per GB and within the region free; storage is $0.10 per GB-month [%d]."},
			{"When is the Scale plan worth it?", "The Scale plan costs a fixed $500 per month and halves the request price [%d], so on requests alone it pays off above roughly 2.5 billion billable requests a month. It also brings 1 hour support response for severity 1 issues and larger limits such as 8 MiB messages, which may matter more than the price."},
		}},
	{"Regions and replication", "Each topic lives in one region and is replicated synchronously across three availability zones; a publish is acknowledged when two zones have stored it. Cross-region replication is available as mirror topics: a mirror continuously copies a source topic to another region with a typical lag under 2 seconds. Mirrors are read-only. In a regional outage, a mirror can be promoted to a writable topic; promotion is one-way and messages not yet copied at that moment are not in the mirror. Available regions: eu-west (Dublin), eu-central (Frankfurt), us-east (Virginia), us-west (Oregon), ap-southeast (Singapore).",
		[][2]string{
			{"How is data replicated?", "Within a region every topic is replicated synchronously across three availability zones, and a publish is acknowledged once two zones have stored it [%d]. For another region you can create a mirror topic, which copies the source continuously with a typical lag under 2 seconds [%d]."},
			{"What happens to our topic if a whole region goes down?", "The topic itself is unavailable, but if you set up a mirror topic in another region you can promote it to a writable topic. Promotion is one-way, and messages that had not been copied yet (typically under 2 seconds' worth) are not in the mirror [%d]."},
		}},
}

var offTopic = [][2]string{
	{"Is there a Terraform provider?", "The documentation I have here doesn't cover infrastructure-as-code tooling, so I can't confirm whether a Terraform provider exists. The API reference or Tidewater support can tell you."},
	{"How does this compare to Kafka?", "The documentation I was given describes Tidewater only, so I can't give you a reliable comparison, and Tidewater's behaviour differs from Kafka's in ways that matter. If you tell me which properties you care about (ordering, delivery guarantees, retention, limits), I can tell you what Tidewater does for each."},
}

func docsChat(g *gen) []conversation.Message {
	// Retrieve three passages, the one the developer asks about among them.
	order := g.r.Perm(len(passages))
	docs := order[:3]
	target := docs[g.r.IntN(3)]
	var b strings.Builder
	num := map[int]int{}
	for i, d := range docs {
		num[d] = i + 1
		fmt.Fprintf(&b, "[Document %d] %s\n%s\n\n", i+1, passages[d].title, passages[d].text)
	}
	cite := func(a string, d int) string {
		return strings.ReplaceAll(a, "[%d]", fmt.Sprintf("[%d]", num[d]))
	}
	p := passages[target]
	qa := p.qa[g.r.IntN(len(p.qa))]
	msgs := []conversation.Message{
		user(b.String() + qa[0]),
		assistant(cite(qa[1], target)),
	}
	// Follow-ups: the other question on the same page, then one about another retrieved page.
	for _, q := range p.qa {
		if q != qa && g.chance(0.6) {
			msgs = append(msgs, user(q[0]), assistant(cite(q[1], target)))
		}
	}
	if g.chance(0.4) {
		other := docs[(indexOf(docs, target)+1)%3]
		q := passages[other].qa[g.r.IntN(len(passages[other].qa))]
		msgs = append(msgs, user(q[0]), assistant(cite(q[1], other)))
	}
	if g.chance(0.15) {
		q := offTopic[g.r.IntN(len(offTopic))]
		msgs = append(msgs, user(q[0]), assistant(q[1]))
	}
	return msgs
}

func indexOf(xs []int, x int) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}
