package app

// TypedAccepts reports whether the typed checks alone accept raw.
func TypedAccepts(v *Validator, raw []byte, topic string) bool {
	_, ok := v.parseTyped(raw, topic)
	return ok
}

// TypedTypes lists the event types the typed checks cover.
func TypedTypes(v *Validator) []string {
	var out []string
	for t := range v.typedData {
		out = append(out, t)
	}
	return out
}

// ParseTrustedEnvelope is the materialiser's reading of a trusted event.
func ParseTrustedEnvelope(raw []byte) (*Event, error) { return parseTrustedEnvelope(raw) }

// TrustedTyped reports whether parseTrustedEnvelope reads raw by the
// envelope's typed checks.
func TrustedTyped(raw []byte) bool {
	_, _, ok := DefaultValidator().typedEnvelopeOf(raw)
	return ok
}
