package bench_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	_ "github.com/mattn/go-sqlite3"
)

// A crypto-shredding prototype, to compare with erasing in place
// (decision 0017): each person has a key; a booking event carries each
// traveller's id in clear and their name, tier and needs sealed with
// AES-256-GCM under their key; erasure deletes the key.

// shredKeys keeps one key per person in a SQLite table, as the node would
// (secure_delete, WAL, fsync on commit), with an in-memory cache.
type shredKeys struct {
	db    *sql.DB
	cache map[string]cipher.AEAD
}

func openShredKeys(tb testing.TB) *shredKeys {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(tb.TempDir(), "keys.db")+"?_journal_mode=WAL&_synchronous=FULL&_secure_delete=on")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE person_keys (id TEXT PRIMARY KEY, key BLOB NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	return &shredKeys{db: db, cache: map[string]cipher.AEAD{}}
}

func (k *shredKeys) aead(tb testing.TB, id string) cipher.AEAD {
	if a, ok := k.cache[id]; ok {
		return a
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := k.db.Exec(`INSERT INTO person_keys (id, key) VALUES (?, ?)`, id, key); err != nil {
		tb.Fatal(err)
	}
	b, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(b)
	k.cache[id] = a
	return a
}

// erase deletes the person's key durably: the shredding itself.
func (k *shredKeys) erase(tb testing.TB, id string) {
	if _, err := k.db.Exec(`DELETE FROM person_keys WHERE id = ?`, id); err != nil {
		tb.Fatal(err)
	}
	delete(k.cache, id)
}

// sealedPassenger is a booking's traveller with the personal fields sealed.
type sealedPassenger struct {
	ID     string `json:"id"`
	Sealed []byte `json:"sealed"` // nonce + AES-GCM(name, tier, ssr)
}

type sealedBooking struct {
	Locator    string            `json:"locator"`
	Status     string            `json:"status"`
	Passengers []sealedPassenger `json:"passengers"`
	Segments   []app.Segment     `json:"segments"`
}

func sealBooking(tb testing.TB, k *shredKeys, b app.Booking) sealedBooking {
	out := sealedBooking{Locator: b.Locator, Status: b.Status, Segments: b.Segments}
	for _, p := range b.Passengers {
		a := k.aead(tb, p.ID)
		plain, _ := json.Marshal(app.BookingPassenger{Name: p.Name, Tier: p.Tier, SSR: p.SSR})
		nonce := make([]byte, a.NonceSize())
		_, _ = rand.Read(nonce)
		out.Passengers = append(out.Passengers, sealedPassenger{ID: p.ID, Sealed: a.Seal(nonce, nonce, plain, []byte(p.ID))})
	}
	return out
}

// openBooking reverses sealBooking; a traveller whose key is gone reads
// as erased.
func openBooking(tb testing.TB, k *shredKeys, sb sealedBooking) app.Booking {
	b := app.Booking{Locator: sb.Locator, Status: sb.Status, Segments: sb.Segments}
	for _, sp := range sb.Passengers {
		bp := app.BookingPassenger{ID: sp.ID, Name: app.ErasedName}
		if a, ok := k.cache[sp.ID]; ok {
			n := a.NonceSize()
			plain, err := a.Open(nil, sp.Sealed[:n], sp.Sealed[n:], []byte(sp.ID))
			if err != nil {
				tb.Fatal(err)
			}
			_ = json.Unmarshal(plain, &bp)
			bp.ID = sp.ID
		}
		b.Passengers = append(b.Passengers, bp)
	}
	return b
}

func shredBooking(i int) app.Booking {
	return app.Booking{Locator: fmt.Sprintf("SHR%03d", i%1000), Status: "active",
		Passengers: []app.BookingPassenger{{ID: fmt.Sprintf("PAX-%d", i%1000), Name: "Ottoline Vexquorrin", Tier: "platinum", SSR: []string{"WCHC"}}},
		Segments:   []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "Y", Seat: "47K"}}}
}

// BenchmarkShredding compares a booking event's encode and decode plain
// and with the person's fields sealed under their key (keys cached: the
// best case for shredding), and the erasure of one person by deleting
// their key (one durable SQLite delete). The in-place erasure it competes
// with is measured end to end in e2e.TestErasureOfFiftyBookings.
//
//	go test -tags sqlite_fts5 -run '^$' -bench Shredding ./bench/
func BenchmarkShredding(b *testing.B) {
	at := t0
	b.Run("plain/encode", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := app.NewEvent("b", "central", app.TypeBookingCreated, "SHR", at, shredBooking(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain/decode", func(b *testing.B) {
		e, _ := app.NewEvent("b", "central", app.TypeBookingCreated, "SHR", at, shredBooking(0))
		for b.Loop() {
			ev, _ := app.ParseTrusted(e.Raw)
			var bk app.Booking
			if err := json.Unmarshal(ev.Data, &bk); err != nil {
				b.Fatal(err)
			}
		}
	})
	k := openShredKeys(b)
	for i := range 1000 {
		k.aead(b, shredBooking(i).Passengers[0].ID) // the keys exist: a person's first booking pays one more insert
	}
	b.Run("shredded/encode", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := app.NewEvent("b", "central", app.TypeBookingCreated, "SHR", at, sealBooking(b, k, shredBooking(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shredded/decode", func(b *testing.B) {
		e, _ := app.NewEvent("b", "central", app.TypeBookingCreated, "SHR", at, sealBooking(b, k, shredBooking(0)))
		for b.Loop() {
			ev, _ := app.ParseTrusted(e.Raw)
			var sb sealedBooking
			if err := json.Unmarshal(ev.Data, &sb); err != nil {
				b.Fatal(err)
			}
			if bk := openBooking(b, k, sb); bk.Passengers[0].Name == app.ErasedName {
				b.Fatal("key missing")
			}
		}
	})
	b.Run("shredded/erase", func(b *testing.B) {
		w0 := bench.WriteBytes()
		n := 0
		for i := 0; b.Loop(); i++ {
			id := fmt.Sprintf("ERASE-%d", i)
			b.StopTimer()
			k.aead(b, id)
			b.StartTimer()
			k.erase(b, id)
			n++
		}
		if w0 >= 0 {
			b.ReportMetric(float64(bench.WriteBytes()-w0)/float64(n), "written-B/op")
		}
	})
}
