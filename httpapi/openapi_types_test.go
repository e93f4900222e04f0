package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/wshub"
)

// oaSchema is the part of an OpenAPI schema the type check reads.
type oaSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 string               `json:"type"`
	Properties           map[string]*oaSchema `json:"properties"`
	Items                *oaSchema            `json:"items"`
	AdditionalProperties json.RawMessage      `json:"additionalProperties"`
}

type oaContent map[string]struct {
	Schema *oaSchema `json:"schema"`
}

type oaOperation struct {
	RequestBody *struct {
		Content oaContent `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content oaContent `json:"content"`
	} `json:"responses"`
}

type oaDoc struct {
	Paths      map[string]map[string]oaOperation `json:"paths"`
	Components struct {
		Schemas map[string]*oaSchema `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	var doc oaDoc
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &doc
}

// resolve follows $ref to components/schemas.
func (d *oaDoc) resolve(s *oaSchema) (*oaSchema, error) {
	for s != nil && s.Ref != "" {
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		if !ok || d.Components.Schemas[name] == nil {
			return nil, fmt.Errorf("unresolvable $ref %q", s.Ref)
		}
		s = d.Components.Schemas[name]
	}
	return s, nil
}

// describes reports whether a schema says anything about fields: a $ref or
// properties. A bare {"type":"object"} is a free-form document (the OpenAPI
// document itself).
func (d *oaDoc) describes(s *oaSchema) bool {
	return s != nil && (s.Ref != "" || s.Properties != nil || s.Items != nil)
}

// jsonSchema is the application/json schema of a body, nil without one.
func jsonSchema(c oaContent) *oaSchema {
	return c["application/json"].Schema
}

// successSchemas are the 2xx JSON answers of an operation, by status.
func successSchemas(op oaOperation) map[string]*oaSchema {
	out := map[string]*oaSchema{}
	for code, r := range op.Responses {
		if strings.HasPrefix(code, "2") {
			if s := jsonSchema(r.Content); s != nil {
				out[code] = s
			}
		}
	}
	return out
}

// docPath is how openapi.json writes a route's path.
func docPath(p string) string {
	if p == "/{$}" {
		return "/"
	}
	return strings.ReplaceAll(p, "...}", "}")
}

// TestOpenAPIMatchesTypes: for every route, the Go types of its request and
// answer bodies (route.in, route.out) and the schemas openapi.json gives
// them agree field by field, both ways, following embedded structs, nested
// structs, lists, maps and $refs as deep as the document describes them;
// JSON types agree too (a Go string is a "string", an int an "integer", a
// struct an "object"…). A route whose document describes a JSON body has a
// type for it, and a typed body is documented. The error body (api.Error)
// is checked against components/schemas/Error, and every documented error
// answer (default, 4xx, 5xx) refers to that schema.
func TestOpenAPIMatchesTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, rt := range NewServer(Deps{}).routes() {
		where := rt.method + " " + rt.path
		op, ok := doc.Paths[docPath(rt.path)][strings.ToLower(rt.method)]
		if !ok {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		var reqSchema *oaSchema
		if op.RequestBody != nil {
			reqSchema = jsonSchema(op.RequestBody.Content)
		}
		checkBody(t, doc, where+" request body", rt.in, reqSchema)
		answers := successSchemas(op)
		if len(answers) == 0 {
			checkBody(t, doc, where+" answer", rt.out, nil)
		}
		for code, s := range answers {
			checkBody(t, doc, where+" answer "+code, rt.out, s)
		}
		// Error answers are api.Error, whatever the route.
		for code, r := range op.Responses {
			if s := jsonSchema(r.Content); s != nil && (code == "default" || code[0] == '4' || code[0] == '5') &&
				s.Ref != "#/components/schemas/Error" {
				t.Errorf("%s answer %s: an error answer is %+v, want $ref Error (api.Error)", where, code, s)
			}
		}
	}
	errSchema := doc.Components.Schemas["Error"]
	checkBody(t, doc, "components/schemas/Error", api.Error{}, errSchema)
}

// checkBody compares one body's Go type (nil: none) with its schema (nil:
// none documented).
func checkBody(t *testing.T, doc *oaDoc, where string, v any, s *oaSchema) {
	t.Helper()
	switch {
	case v == nil && !doc.describes(s):
		return
	case v == nil:
		t.Errorf("%s: openapi.json describes a JSON body but the route table gives no type (route.in/out in routes.go)", where)
		return
	case s == nil:
		t.Errorf("%s: the route table gives %T but openapi.json documents no JSON body", where, v)
		return
	}
	c := &typeCheck{doc: doc, seen: map[seenKey]bool{}}
	c.compare(reflect.TypeOf(v), s, fmt.Sprintf("%T", v))
	for _, e := range c.errs {
		t.Errorf("%s: %s", where, e)
	}
}

type seenKey struct {
	t reflect.Type
	s *oaSchema
}

type typeCheck struct {
	doc  *oaDoc
	seen map[seenKey]bool
	errs []string
}

func (c *typeCheck) fail(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// compare checks that Go type t encodes as schema s; path names the spot
// ("api.ServiceList.services[].name").
func (c *typeCheck) compare(t reflect.Type, s *oaSchema, path string) {
	s, err := c.doc.resolve(s)
	if err != nil {
		c.fail(path, "%v", err)
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil || t.Kind() == reflect.Interface || t == rawMessageType {
		return
	}
	key := seenKey{t, s}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	want := jsonKind(t)
	if got := schemaKind(s); got != "" && got != want {
		c.fail(path, "Go %s encodes as %q, openapi.json says %q", t, want, got)
		return
	}
	switch {
	case want == "object" && t.Kind() == reflect.Struct:
		c.compareStruct(t, s, path)
	case want == "object" && t.Kind() == reflect.Map:
		if sub := additional(s); sub != nil {
			c.compare(t.Elem(), sub, path+"{}")
		}
	case want == "array" && s.Items != nil:
		c.compare(t.Elem(), s.Items, path+"[]")
	}
}

// compareStruct compares a struct's JSON fields with the schema's
// properties, both ways, then each common field's type.
func (c *typeCheck) compareStruct(t reflect.Type, s *oaSchema, path string) {
	if s.Properties == nil {
		c.fail(path, "openapi.json documents no properties for %s (fields %v)", t, sortedKeys(jsonFields(t)))
		return
	}
	fields := jsonFields(t)
	for _, name := range sortedKeys(fields) {
		if _, ok := s.Properties[name]; !ok {
			c.fail(path+"."+name, "field of %s is missing from openapi.json", t)
		}
	}
	for _, name := range sortedKeys(s.Properties) {
		ft, ok := fields[name]
		if !ok {
			c.fail(path+"."+name, "documented in openapi.json but %s has no such JSON field", t)
			continue
		}
		c.compare(ft, s.Properties[name], path+"."+name)
	}
}

// additional is the schema of a map's values, nil when free-form.
func additional(s *oaSchema) *oaSchema {
	if len(s.AdditionalProperties) == 0 || s.AdditionalProperties[0] != '{' {
		return nil
	}
	var sub oaSchema
	if json.Unmarshal(s.AdditionalProperties, &sub) != nil {
		return nil
	}
	return &sub
}

func schemaKind(s *oaSchema) string {
	if s.Type == "" && s.Properties != nil {
		return "object"
	}
	return s.Type
}

// jsonKind is the JSON type encoding/json gives values of t.
func jsonKind(t reflect.Type) string {
	if t == timeType {
		return "string"
	}
	if t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType) {
		return "" // its own encoding: not checked
	}
	if t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // base64
		}
		return "array"
	}
	return ""
}

// jsonFields maps the JSON names of a struct's encoded fields to their
// types, following embedded structs as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := out[k]; !ok { // the outer field wins
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestTypeCheckFindsDrift: the check above reports a field missing from
// either side, a wrong JSON type, and looks through embedding, pointers,
// lists, maps and $refs.
func TestTypeCheckFindsDrift(t *testing.T) {
	type inner struct {
		A string `json:"a"`
	}
	type other struct {
		C int `json:"c"`
	}
	type body struct {
		api.Page
		Items  []*inner          `json:"items"`
		ByName map[string]other  `json:"byName"`
		When   time.Time         `json:"when"`
		Extra  string            `json:"extra,omitempty"`
		Skip   string            `json:"-"`
		Raw    json.RawMessage   `json:"raw"`
		Free   map[string]string `json:"free"`
	}
	doc := &oaDoc{}
	doc.Components.Schemas = map[string]*oaSchema{
		"Inner": {Type: "object", Properties: map[string]*oaSchema{"a": {Type: "integer"}, "b": {Type: "string"}}},
		"Other": {Type: "object", Properties: map[string]*oaSchema{"c": {Type: "number"}}},
	}
	s := &oaSchema{Type: "object", Properties: map[string]*oaSchema{
		"total": {Type: "integer"}, "page": {Type: "integer"}, "pageSize": {Type: "string"},
		"items":  {Type: "array", Items: &oaSchema{Ref: "#/components/schemas/Inner"}},
		"byName": {Type: "object", AdditionalProperties: json.RawMessage(`{"$ref":"#/components/schemas/Other"}`)},
		"when":   {Type: "string"}, "raw": {}, "free": {Type: "object", AdditionalProperties: json.RawMessage(`true`)},
		"gone": {Type: "string"},
	}}
	c := &typeCheck{doc: doc, seen: map[seenKey]bool{}}
	c.compare(reflect.TypeFor[body](), s, "body")
	want := []string{
		`body.extra: field of httpapi.body is missing from openapi.json`,
		`body.gone: documented in openapi.json but httpapi.body has no such JSON field`,
		`body.pageSize: Go int encodes as "integer", openapi.json says "string"`,
		`body.items[].a: Go string encodes as "string", openapi.json says "integer"`,
		`body.items[].b: documented in openapi.json but httpapi.inner has no such JSON field`,
		`body.byName{}.c: Go int encodes as "integer", openapi.json says "number"`,
	}
	slices.Sort(want)
	got := slices.Clone(c.errs)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAnswersDecodeIntoRouteTypes: every GET route the table gives an
// answer type answers, on a live server (SQLite, local runtime) with a
// service and an environment, JSON that decodes strictly into that type:
// a handler that encodes another shape than its route declares fails here,
// as the document check above holds the declared type to openapi.json.
func TestAnswersDecodeIntoRouteTypes(t *testing.T) {
	l := newLive(t, wshub.Config{})
	l.call(t, l.admin, "PUT", "/api/v1/services/web", `{"command":["sleep","60"]}`, http.StatusCreated, nil)
	var env api.EnvironmentEnvelope
	l.call(t, l.admin, "POST", "/api/v1/environments", `{"name":"dev"}`, http.StatusCreated, &env)
	params := strings.NewReplacer("{name}", "web", "{type}", "service", "{$}", "")
	checked := 0
	for _, rt := range NewServer(Deps{}).routes() {
		if rt.method != "GET" || rt.out == nil {
			continue
		}
		if rt.path == "/api/v1/recommendations/{id}" {
			// No recommendation exists without history; e2e's
			// TestRecommendationsLocal decodes this answer strictly
			// (getJSON[api.RecommendationBody]).
			continue
		}
		path := params.Replace(rt.path)
		if strings.Contains(path, "/users/{id}") {
			path = strings.Replace(path, "{id}", l.adminA.UserID, 1)
		}
		path = strings.Replace(path, "{id}", env.Environment.ID, 1)
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			req, _ := http.NewRequest(rt.method, l.srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+l.admin)
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
			}
			out := reflect.New(reflect.TypeOf(rt.out)).Interface()
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(out); err != nil {
				t.Fatalf("%s: the answer does not decode into %T: %v: %.300s", path, rt.out, err, raw)
			}
		})
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d GET routes checked", checked)
	}
}
