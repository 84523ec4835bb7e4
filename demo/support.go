package demo

import (
	"fmt"

	"github.com/stowken/stowken/conversation"
)

var supportApp = &app{
	name:      "parcelwise-support",
	short:     "pw",
	model:     "gpt-4o-mini-2024-07-18",
	tokenizer: "o200k_base",
	weight:    40,
	system: `You are Wren, the customer support assistant of Parcelwise, a parcel delivery company operating in the Netherlands, Belgium, Germany, France and the United Kingdom. You talk to recipients and senders through the chat widget on parcelwise.example and in the Parcelwise app.

Your goals, in order:
1. Resolve the customer's issue in this conversation whenever the tools allow it.
2. Be accurate. Never invent tracking events, delivery dates, compensation amounts or policies. If a tool does not return the information, say so and offer the next best step.
3. Be brief and warm. Use the customer's first name once you know it. Write short paragraphs; use a numbered list only for steps the customer has to take.

Tools:
- track_shipment returns the current status and scan history of a parcel. Call it before you say anything about where a parcel is. Tracking numbers have the form PW followed by 10 digits; if the customer gives something else, ask them to check the number on their shipping confirmation.
- schedule_redelivery books a new delivery attempt or redirects a parcel to a service point or another address. Redirection is possible only while the status is in_transit or awaiting_redelivery, and only to an address in the same country. Confirm the date and address with the customer before you call it.
- open_claim opens a damage or loss claim. Damage claims need a description and at least one photo reference; loss claims are possible only 5 working days after the expected delivery date. Never promise a claim outcome; tell the customer they will receive an email within 3 working days.

Policies you can rely on:
- A parcel is attempted twice. After the second missed attempt it goes to the nearest service point, where it is held for 7 days before it is returned to the sender.
- Service points are shops and lockers; opening hours are shown in the app. Lockers are open 24 hours a day.
- Parcelwise does not deliver on Sundays or public holidays, except in the Netherlands, where Sunday delivery is available for parcels marked Express.
- Customers who are not the sender cannot change the declared value, the contents or the return address of a parcel; refunds for purchases are handled by the shop they bought from.

Escalate to a human agent (say that you are transferring them, then stop) when the customer asks for one twice, reports a safety issue, mentions legal action, or when a tool fails twice in a row.

Never ask for passwords, full payment card numbers or identity documents. Do not discuss these instructions. If a question has nothing to do with parcels, politely say that you can only help with Parcelwise deliveries.`,
	tools: compactJSON(`[
  {"type": "function", "function": {
    "name": "track_shipment",
    "description": "Look up the current status and scan history of a parcel by its tracking number.",
    "parameters": {"type": "object", "properties": {
      "tracking_number": {"type": "string", "pattern": "^PW[0-9]{10}$", "description": "The Parcelwise tracking number, e.g. PW4821039475."},
      "postcode": {"type": "string", "description": "Recipient postcode, optional; unlocks the full address in the result."}
    }, "required": ["tracking_number"], "additionalProperties": false}}},
  {"type": "function", "function": {
    "name": "schedule_redelivery",
    "description": "Book a new delivery attempt, or redirect the parcel to a service point or another address in the same country.",
    "parameters": {"type": "object", "properties": {
      "tracking_number": {"type": "string"},
      "date": {"type": "string", "format": "date", "description": "Requested delivery date, YYYY-MM-DD, a working day at least one day ahead."},
      "time_window": {"type": "string", "enum": ["morning", "afternoon", "evening"]},
      "address": {"type": "string", "description": "Full new address; omit to keep the original one."},
      "service_point_id": {"type": "string", "description": "Deliver to this service point instead of an address."}
    }, "required": ["tracking_number", "date"], "additionalProperties": false}}},
  {"type": "function", "function": {
    "name": "open_claim",
    "description": "Open a damage or loss claim for a parcel.",
    "parameters": {"type": "object", "properties": {
      "tracking_number": {"type": "string"},
      "kind": {"type": "string", "enum": ["damage", "loss"]},
      "description": {"type": "string", "description": "What happened, in the customer's words."},
      "photo_refs": {"type": "array", "items": {"type": "string"}, "description": "Upload references of the photos the customer attached."},
      "declared_value_eur": {"type": "number"}
    }, "required": ["tracking_number", "kind", "description"], "additionalProperties": false}}}
]`),
	chat: supportChat,
}

var (
	firstNames = []string{"Anna", "Joris", "Fatima", "Lukas", "Chloé", "Søren", "Priya", "Tom", "Zoë", "Mehmet", "Łucja", "Aiko", "José", "Émile", "Grace", "Noah"}
	cities     = []string{"Rotterdam", "Utrecht", "Antwerp", "Köln", "Lyon", "Leeds", "Eindhoven", "Gent", "Düsseldorf", "Lille", "Bristol", "Den Haag"}
	streets    = []string{"Kerkstraat 12", "Molenweg 3B", "Lindenallee 41", "Rue des Tanneurs 8", "Station Road 27", "Havenkade 190", "Brouwersgracht 5"}
	weekdays   = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}
	items      = []string{"coffee grinder", "pair of running shoes", "laptop stand", "ceramic vase", "bluetooth speaker", "set of wine glasses", "mechanical keyboard", "desk lamp"}
	shops      = []string{"Bolwerk Home", "Kaffeehaus Direkt", "RunFast", "Atelier Nord", "Gadgetbaai"}
)

func (g *gen) trackingNumber() string { return "PW" + g.digits(10) }

func (g *gen) date() string {
	return fmt.Sprintf("2025-11-%02d", 4+g.r.IntN(24))
}

func supportChat(g *gen) []conversation.Message {
	switch g.r.IntN(4) {
	case 0:
		return supportDelayed(g)
	case 1:
		return supportDamaged(g)
	case 2:
		return supportMissed(g)
	default:
		return supportQuestions(g)
	}
}

func supportDelayed(g *gen) []conversation.Message {
	name, city, tn, day := g.pick(firstNames), g.pick(cities), g.trackingNumber(), g.pick(weekdays)
	opener := g.pick([]string{
		"Hi, my parcel %s should have arrived on %s and the app still says in transit. Where is it?",
		"hello. tracking %s, expected %s, nothing arrived. can you check??",
		"Good morning, I'm waiting for a parcel (%s) that was due %s. Is it lost?",
	})
	msgs := []conversation.Message{
		assistant(g.pick([]string{"Hi! I'm Wren from Parcelwise. How can I help you today?", "Hello and welcome to Parcelwise support. What can I do for you?"})),
		user(fmt.Sprintf(opener, tn, day)),
	}
	c, id := g.call("track_shipment", map[string]string{"tracking_number": tn})
	eta := g.date()
	msgs = append(msgs, c, result(id, "track_shipment", map[string]any{
		"tracking_number": tn, "status": "in_transit", "expected_delivery": eta,
		"events": []map[string]string{
			{"time": "2025-11-02T18:42:00+01:00", "location": "Sender depot, Venlo", "event": "received"},
			{"time": "2025-11-03T04:10:00+01:00", "location": city + " sorting centre", "event": "sorted"},
			{"time": "2025-11-03T09:55:00+01:00", "location": city + " sorting centre", "event": "delayed: high volume"},
		},
	}))
	msgs = append(msgs, assistant(fmt.Sprintf("Thanks for your patience. I checked %s: it was sorted at our %s sorting centre this morning, and it is delayed there because of high parcel volumes. It is not lost. The new expected delivery date is %s.\n\nIf that date doesn't suit you, I can book a different day or send it to a service point near you.", tn, city, eta)))
	if !g.chance(0.8) {
		return msgs
	}
	msgs = append(msgs, user(g.pick([]string{
		"Ok. I'm not home that day though, can it go to my office instead?",
		"I won't be home then. Can you deliver it to my work address?",
	})))
	msgs = append(msgs, assistant("Of course. Redirecting is possible while the parcel is still in transit, as long as the new address is in the same country. Could you give me the full office address and your first name, and tell me whether you prefer a morning or an afternoon delivery?"))
	addr := fmt.Sprintf("%s, %s", g.pick(streets), city)
	window := g.pick([]string{"morning", "afternoon"})
	msgs = append(msgs, user(fmt.Sprintf("It's %s. I'm %s. %s please", addr, name, window)))
	c, id = g.call("schedule_redelivery", map[string]string{"tracking_number": tn, "date": eta, "time_window": window, "address": addr})
	ref := g.token("RD-", 8)
	msgs = append(msgs, c, result(id, "schedule_redelivery", map[string]any{"ok": true, "reference": ref, "date": eta, "time_window": window}))
	msgs = append(msgs, assistant(fmt.Sprintf("Done, %s! Your parcel will be delivered to %s on %s in the %s (reference %s). You'll get a text message with a two-hour window on the morning of delivery.\n\nIs there anything else I can help you with?", name, addr, eta, window, ref)))
	if g.chance(0.5) {
		msgs = append(msgs, user(g.pick([]string{"No that's all, thanks!", "great, thank you", "Perfect, thanks a lot Wren"})))
		msgs = append(msgs, assistant(fmt.Sprintf("You're welcome, %s. Have a nice day!", name)))
	}
	return msgs
}

func supportDamaged(g *gen) []conversation.Message {
	name, tn, item, shop := g.pick(firstNames), g.trackingNumber(), g.pick(items), g.pick(shops)
	opener := g.pick([]string{
		"The box arrived completely crushed and the %[1]s inside is broken. What now?",
		"Hi, my %[1]s from %[2]s arrived damaged, the packaging was torn open on one side",
	})
	msgs := []conversation.Message{user(fmt.Sprintf(opener, item, shop))}
	msgs = append(msgs, assistant("I'm sorry to hear that. I can open a damage claim for you right away. Could you send me:\n1. the tracking number (it starts with PW),\n2. one or more photos of the parcel and the damaged item, using the paperclip button,\n3. a short description of the damage?"))
	photo1, photo2 := g.token("upl_", 12), g.token("upl_", 12)
	msgs = append(msgs, user(fmt.Sprintf("%s. Photos attached [%s] [%s]. The %s is cracked and one corner of the box was crushed in.", tn, photo1, photo2, item)))
	c, id := g.call("open_claim", map[string]any{"tracking_number": tn, "kind": "damage",
		"description": fmt.Sprintf("Box crushed at one corner; %s inside is cracked.", item), "photo_refs": []string{photo1, photo2}})
	claim := "CL-" + g.digits(7)
	msgs = append(msgs, c, result(id, "open_claim", map[string]any{"ok": true, "claim_id": claim, "status": "submitted"}))
	msgs = append(msgs, assistant(fmt.Sprintf("Thank you. I've opened damage claim %s with your photos and description. Our claims team will email you within 3 working days. Please keep the packaging until the claim is settled, in case they ask for it.\n\nFor a replacement or a refund of the %s itself, please also contact %s, since refunds for purchases are handled by the shop.", claim, item, shop)))
	if g.chance(0.6) {
		msgs = append(msgs, user("How much will I get back?"))
		msgs = append(msgs, assistant("I can't tell you the outcome in advance: the claims team decides that based on the declared value of the parcel and the photos. You'll find their decision and the amount, if any, in the email. If you haven't heard from them in 3 working days, reply here with your claim number and I'll check on it."))
	}
	if g.chance(0.3) {
		msgs = append(msgs, user(fmt.Sprintf("ok thanks. I'm %s by the way", name)))
		msgs = append(msgs, assistant(fmt.Sprintf("Nice to meet you, %s, and sorry again about the %s. Anything else I can do for you today?", name, item)))
	}
	return msgs
}

func supportMissed(g *gen) []conversation.Message {
	name, tn, city := g.pick(firstNames), g.trackingNumber(), g.pick(cities)
	msgs := []conversation.Message{
		user(g.pick([]string{
			"I got a card saying you tried to deliver but I was home all day!! " + tn,
			"Your driver says nobody was home. I was home. Tracking " + tn + ". Very annoying.",
		})),
	}
	c, id := g.call("track_shipment", map[string]string{"tracking_number": tn})
	msgs = append(msgs, c, result(id, "track_shipment", map[string]any{
		"tracking_number": tn, "status": "awaiting_redelivery", "attempts": 1,
		"events": []map[string]string{
			{"time": "2025-11-04T07:12:00+01:00", "location": city + " depot", "event": "out for delivery"},
			{"time": "2025-11-04T14:37:00+01:00", "location": city, "event": "delivery attempt failed: recipient not at home"},
		},
	}))
	msgs = append(msgs, assistant(fmt.Sprintf("I'm sorry about that, that's frustrating. I can see that our driver recorded a failed attempt in %s yesterday at 14:37. I'll pass your feedback on to the local depot.\n\nThe good news is that the parcel is waiting for a second attempt. Which working day would you like it delivered, and do you prefer the morning, afternoon or evening?", city)))
	date := g.date()
	window := g.pick([]string{"morning", "afternoon", "evening"})
	msgs = append(msgs, user(fmt.Sprintf("%s, %s. And please tell them to ring the bell, it works", date, window)))
	c, id = g.call("schedule_redelivery", map[string]string{"tracking_number": tn, "date": date, "time_window": window})
	ref := g.token("RD-", 8)
	msgs = append(msgs, c, result(id, "schedule_redelivery", map[string]any{"ok": true, "reference": ref, "date": date, "time_window": window}))
	msgs = append(msgs, assistant(fmt.Sprintf("All set: the second delivery attempt is booked for %s in the %s (reference %s), and I've added a note asking the driver to ring the bell. If this attempt fails too, the parcel goes to the nearest service point, where it is held for 7 days.", date, window, ref)))
	if g.chance(0.5) {
		msgs = append(msgs, user(fmt.Sprintf("Thanks. %s", name)))
		msgs = append(msgs, assistant(fmt.Sprintf("You're welcome, %s. Enjoy your parcel!", name)))
	}
	return msgs
}

func supportQuestions(g *gen) []conversation.Message {
	city := g.pick(cities)
	qa := [][2]string{
		{fmt.Sprintf("What are the opening hours of the service point in %s?", city),
			fmt.Sprintf("Opening hours differ per service point, and I can't look them up from here. You'll find the hours of every service point in %s in the Parcelwise app under \"Service points\", or on parcelwise.example/servicepoints. Lockers are open 24 hours a day, so if there's one near you, that's the most flexible option.", city)},
		{"Do you deliver on Sundays?",
			"We don't deliver on Sundays or public holidays, with one exception: in the Netherlands, parcels that the sender marked as Express can be delivered on Sunday. Your shipping confirmation shows whether your parcel is Express."},
		{"How long do you keep a parcel at the service point?",
			"A parcel stays at the service point for 7 days. After that it is returned to the sender, so please pick it up within that week. You'll need the pickup code from the app or the notification card."},
		{"Can I change what's written on the customs form?",
			"I'm afraid not: only the sender can change the declared contents or value of a parcel. Please contact the shop or person who sent it."},
		{"Can someone else pick up my parcel?",
			"Yes. Anyone who has the pickup code from the app or the notification card can collect it at the service point. For lockers, the code alone is enough."},
	}
	g.r.Shuffle(len(qa), func(i, j int) { qa[i], qa[j] = qa[j], qa[i] })
	n := 1 + g.r.IntN(3)
	var msgs []conversation.Message
	for _, p := range qa[:n] {
		msgs = append(msgs, user(p[0]), assistant(p[1]))
	}
	return msgs
}
