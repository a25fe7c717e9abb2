package app

import (
	"fmt"
	"strings"
)

// CheckReport is the answer of a check of a state store against a
// rebuild from the log: the positions the rebuild replayed up to (the
// live store's, read in the same snapshot as its contents) and the tables
// whose contents differ. No differing table means the store equals the
// rebuild.
type CheckReport struct {
	Upto    map[string]uint64 `json:"upto"`
	Differs []TableDiff       `json:"differs"`
	TookMS  int64             `json:"took_ms"`
}

// TableDiff is one table whose contents differ: its row count and hash
// in the live store and in the rebuild ("rows:hash").
type TableDiff struct {
	Table   string `json:"table"`
	Live    string `json:"live"`
	Rebuild string `json:"rebuild"`
}

// Equal reports whether no table differs.
func (r CheckReport) Equal() bool { return len(r.Differs) == 0 }

// Tables names the differing tables, each with both checksums.
func (r CheckReport) Tables() []string {
	var out []string
	for _, d := range r.Differs {
		out = append(out, d.String())
	}
	return out
}

func (d TableDiff) String() string {
	return fmt.Sprintf("%s (live %s, rebuild %s)", d.Table, d.Live, d.Rebuild)
}

// UptoString lists the positions a check replayed up to, topic by topic
// in the order given.
func (r CheckReport) UptoString(topics []string) string {
	var parts []string
	for _, t := range topics {
		parts = append(parts, fmt.Sprintf("%s@%d", t, r.Upto[t]))
	}
	return strings.Join(parts, ", ")
}
