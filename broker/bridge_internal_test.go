package broker

import (
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCloudEventOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     *kgo.Record
		binary  bool
		wantRaw string
	}{
		{"structured", &kgo.Record{Value: []byte(`{"id":"1"}`)}, false, `{"id":"1"}`},
		{"structured with content type and ce headers", &kgo.Record{Value: []byte(`{"id":"1"}`), Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")},
			{Key: "ce_specversion", Value: []byte("1.0")},
		}}, false, `{"id":"1"}`},
		{"binary", &kgo.Record{Value: []byte(`{"flight":"LH400"}`), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "CE_ID", Value: []byte("e-1")},
			{Key: "ce_type", Value: []byte("flight.status")},
			{Key: "ce_myext", Value: []byte("x")},
			{Key: "content-type", Value: []byte("application/json")},
			{Key: "trace", Value: []byte("t")},
		}}, true, `{"data":{"flight":"LH400"},"datacontenttype":"application/json","id":"e-1","myext":"x","specversion":"1.0","type":"flight.status"}`},
		{"binary with text data", &kgo.Record{Value: []byte(`<x/>`), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")},
		}}, true, `{"data":"\u003cx/\u003e","specversion":"1.0"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, binary, err := cloudEventOf(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if binary != tc.binary || string(raw) != tc.wantRaw {
				t.Fatalf("got %v %s, want %v %s", binary, raw, tc.binary, tc.wantRaw)
			}
			if !json.Valid(raw) && tc.binary {
				t.Fatalf("not JSON: %s", raw)
			}
		})
	}
}

func TestHeaderNameAndValue(t *testing.T) {
	if got := headerName("trace id:x"); got != "trace_id_x" {
		t.Errorf("headerName: %q", got)
	}
	for in, want := range map[string]string{
		"plain":         "plain",
		"":              "",
		"line\r\nbreak": "base64:bGluZQ0KYnJlYWs=",
		"\xff\x00":      "base64:/wA=",
		"base64:abc":    "base64:YmFzZTY0OmFiYw==", // never ambiguous
	} {
		if got := headerValue([]byte(in)); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResumePointCovers(t *testing.T) {
	rp := &resumePoint{partitions: 3, last: map[int32]uint64{}, hasher: kgo.StickyKeyPartitioner(nil).ForTopic("fra.rebookings")}
	key := []byte("ABC123")
	p := int32(rp.hasher.Partition(&kgo.Record{Key: key}, 3))
	rp.last[p], rp.max = 40, 40
	other := []byte{}
	for _, k := range []string{"ABC000", "ABC001", "ABC002", "ABC003", "ABC004", "ABC005"} {
		if int32(rp.hasher.Partition(&kgo.Record{Key: []byte(k)}, 3)) != p {
			other = []byte(k)
			break
		}
	}
	for _, tc := range []struct {
		offset uint64
		key    []byte
		want   bool
	}{
		{40, key, true}, {12, key, true}, {41, key, false}, {12, other, false}, {12, nil, false},
	} {
		if got := rp.covers(tc.offset, tc.key); got != tc.want {
			t.Errorf("covers(%d, %q) = %v, want %v", tc.offset, tc.key, got, tc.want)
		}
	}
	var none *resumePoint
	if none.covers(1, key) {
		t.Error("a nil resume point covers nothing")
	}
}
