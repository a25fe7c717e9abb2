package ui

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/apron-edge/apron/app"
)

// DocumentReader reads policy documents; the state store implements it.
type DocumentReader interface {
	Document(ctx context.Context, id string) (*app.DocumentRecord, error)
}

// handleDocumentPage shows a document cut into the same sections the index
// holds, each anchored "#sN" by its chunk number, so that a citation
// "policy-care#2" opens at the quoted passage.
func (s *Server) handleDocumentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dr, ok := s.State.(DocumentReader)
	if !ok {
		s.pageError(w, r, app.Errorf(app.EUNAVAILABLE, "documents cannot be read here"))
		return
	}
	id, _, _ := strings.Cut(r.PathValue("id"), "#")
	d, err := dr.Document(ctx, id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := DocumentView{Chrome: s.chrome(ctx, principalOf(r)), ID: d.ID, Title: d.Title, Airport: d.Airport, Tags: strings.Join(d.Tags, ", "), AsOf: s.asOf(d.Version)}
	if d.ValidFrom != nil {
		v.Valid = "from " + s.local(*d.ValidFrom)
	}
	if d.ValidTo != nil {
		v.Valid += " until " + s.local(*d.ValidTo)
	}
	for i, c := range app.PolicyDocs(d.ID, &d.Document, app.ChunkMaxChars, app.ChunkOverlapChars) {
		// The chunk text repeats the heading path on its first line.
		_, body, _ := strings.Cut(c.Text, "\n")
		v.Sections = append(v.Sections, DocSection{Anchor: "s" + strconv.Itoa(i), Cite: c.DocID, Heading: c.Title, Body: body})
	}
	s.render(w, r, http.StatusOK, DocumentPage(v))
}

// citeAnchor turns a citation "policy-care#2" into the document page's
// path and anchor "policy-care#s2".
func citeAnchor(cite string) string {
	id, chunk, ok := strings.Cut(cite, "#")
	if !ok {
		return id
	}
	return id + "#s" + chunk
}
