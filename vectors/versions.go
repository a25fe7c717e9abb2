package vectors

import (
	"context"
	"fmt"
	"time"

	"github.com/apron-edge/apron/app"
)

// The state tables whose rows carry the version of the event they hold,
// with their key column. Applying a change first reads the stored
// version; in a batch of new keys that read, one query per change, cost
// as much as the write (decision 0020), so a batch reads the versions of
// all its keys at once (prefetchVersions) and the transaction keeps them
// up to date as it writes.
var versionKeys = map[string]string{
	"flights":            "key",
	"bookings":           "locator",
	"passengers":         "id",
	"passenger_erasures": "id",
	"documents":          "id",
}

// minPrefetch is the smallest batch whose versions are read at once;
// below it one query per change is as cheap.
const minPrefetch = 16

// version is the stored version of key in table, from the prefetched
// versions when the transaction read them, else from the table.
func (t *txc) version(ctx context.Context, table, key string) (app.Version, bool, error) {
	if m, ok := t.versions[table]; ok {
		v, found := m[key]
		return v, found, nil
	}
	return currentVersion(ctx, t, fmt.Sprintf(`SELECT event_id, event_time, log_offset FROM %s WHERE %s = ?`, table, versionKeys[table]), key)
}

// stored records that key in table now holds version v.
func (t *txc) stored(table, key string, v app.Version) {
	if m, ok := t.versions[table]; ok {
		m[key] = v
	}
}

// removed records that key's row in table is gone.
func (t *txc) removed(table, key string) {
	if m, ok := t.versions[table]; ok {
		delete(m, key)
	}
}

// prefetchVersions reads the stored versions of every key the changes
// touch, a few hundred keys a query.
func (t *txc) prefetchVersions(ctx context.Context, changes []app.StateChange) error {
	if len(changes) < minPrefetch {
		return nil
	}
	keys := map[string][]string{}
	for i := range changes {
		ch := &changes[i]
		switch {
		case ch.Flight != nil:
			keys["flights"] = append(keys["flights"], ch.Key)
		case ch.Booking != nil:
			keys["bookings"] = append(keys["bookings"], ch.Key)
			for _, p := range ch.Booking.Passengers {
				keys["passenger_erasures"] = append(keys["passenger_erasures"], p.ID)
			}
		case ch.Passenger != nil:
			keys["passengers"] = append(keys["passengers"], ch.Key)
			keys["passenger_erasures"] = append(keys["passenger_erasures"], ch.Key)
		case ch.Document != nil:
			keys["documents"] = append(keys["documents"], ch.Key)
		}
	}
	if t.versions == nil {
		t.versions = map[string]map[string]app.Version{}
	}
	for table, ks := range keys {
		m, err := t.readVersions(ctx, table, ks)
		if err != nil {
			return err
		}
		t.versions[table] = m
	}
	return nil
}

func (t *txc) readVersions(ctx context.Context, table string, keys []string) (map[string]app.Version, error) {
	const chunk = 500
	col := versionKeys[table]
	m := make(map[string]app.Version, len(keys))
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		args := make([]any, len(part))
		for j, k := range part {
			args[j] = k
		}
		q := fmt.Sprintf(`SELECT %s, event_id, event_time, log_offset FROM %s WHERE %s IN (%s)`, col, table, col, placeholders(len(part)))
		rows, err := t.Tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("versions in %s: %w", table, err)
		}
		for rows.Next() {
			var key, et string
			var v app.Version
			if err := rows.Scan(&key, &v.EventID, &et, &v.Offset); err != nil {
				rows.Close()
				return nil, fmt.Errorf("versions in %s: %w", table, err)
			}
			if v.EventTime, err = time.Parse(tsLayout, et); err != nil {
				rows.Close()
				return nil, fmt.Errorf("version of %s in %s: %w", key, table, err)
			}
			m[key] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("versions in %s: %w", table, err)
		}
	}
	return m, nil
}
