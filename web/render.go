package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

var channelNames = map[kith.Kind]string{
	kith.KindWeb: "Website", kith.KindApp: "App", kith.KindEmail: "E-mail", kith.KindSMS: "SMS", kith.KindPush: "Push",
	kith.KindChat: "Chat", kith.KindSocial: "Social", kith.KindCallCenter: "Call center", kith.KindStore: "Store",
	kith.KindPOS: "Point of sale", kith.KindBeacon: "Beacon", kith.KindServer: "Server",
}

func channelName(k kith.Kind) string {
	if n, ok := channelNames[k]; ok {
		return n
	}
	return string(k)
}

// ago says how long before now t was, the way a person says it.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day")
	default:
		s = plural(int(d/(30*24*time.Hour)), "month")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// traitValue shows a JSON value: strings without quotes, the rest compact.
func traitValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// eventMessage is the part of a Segment message a timeline line shows.
type eventMessage struct {
	Event      string         `json:"event"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
	Traits     map[string]any `json:"traits"`
	Context    struct {
		Page struct {
			Path  string `json:"path"`
			Title string `json:"title"`
		} `json:"page"`
	} `json:"context"`
}

// summary is one line saying what an event was.
func summary(e kith.TimelineEvent) string {
	var m eventMessage
	_ = json.Unmarshal(e.Payload, &m)
	prop := func(k string) string {
		if v, ok := m.Properties[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	switch e.Type {
	case "page":
		title := first(prop("title"), m.Context.Page.Title, m.Name)
		p := first(prop("path"), m.Context.Page.Path)
		switch {
		case title != "" && p != "":
			return fmt.Sprintf("Viewed “%s” (%s)", title, p)
		case p != "":
			return "Viewed " + p
		}
		return "Viewed a page"
	case "screen":
		return "Opened " + first(m.Name, "a screen")
	case "identify":
		keys := make([]string, 0, len(m.Traits))
		for k := range m.Traits {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 6 {
			keys = append(keys[:6], "…")
		}
		if len(keys) == 0 {
			return "Identified"
		}
		return "Identified with " + strings.Join(keys, ", ")
	case "track":
		var details []string
		for _, k := range []string{"topic", "reason", "category", "campaign", "subject", "product", "name", "disposition", "revenue", "total", "store"} {
			if v := prop(k); v != "" {
				details = append(details, k+" "+v)
			}
			if len(details) == 3 {
				break
			}
		}
		s := first(m.Event, "Event")
		if len(details) > 0 {
			s += " — " + strings.Join(details, ", ")
		}
		return s
	}
	return first(m.Event, m.Name, string(e.Type))
}

func first(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"ago":       func(t time.Time) string { return ago(time.Now(), t) },
		"when":      func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
		"iso":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"channel":   channelName,
		"hasPrefix": strings.HasPrefix,
		"plural":    plural,
		// sentence starts a message with a capital, as a person writes it.
		"sentence": func(s string) string {
			for i, r := range s {
				return strings.ToUpper(string(r)) + s[i+len(string(r)):]
			}
			return s
		},
		"initial": func(s string) string {
			for _, r := range s {
				return strings.ToUpper(string(r))
			}
			return "?"
		},
		"value": traitValue,
		"money": money,
		"count": count,
		"stage": stageName,
		"prob":  probability,
		"num":   func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) },
		// param shows a model parameter with four significant digits.
		"param":        func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) },
		"dur":          func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"px":           func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"add":          func(a, b float64) float64 { return a + b },
		"sub":          func(a, b float64) float64 { return a - b },
		"half":         func(a float64) float64 { return a / 2 },
		"barpx":        func(pct int) int { return pct * 160 / 100 },
		"summary":      summary,
		"matchp":       matchProbability,
		"bits":         bits,
		"decider":      decider,
		"fieldLabel":   fieldLabel,
		"price":        price,
		"honour":       honourText,
		"channels":     channelList,
		"purpose":      nameIn(purposeNames),
		"contact":      nameIn(contactNames),
		"consentState": nameIn(stateNames),
		"via":          viaName,
		"short": func(s string) string {
			if len(s) > 14 {
				return s[:14] + "…"
			}
			return s
		},
		"pct": func(v, max float64) int {
			if max <= 0 {
				return 0
			}
			return int(v/max*100 + 0.5)
		},
		"percent": func(n, total int) int {
			if total <= 0 {
				return 0
			}
			return n * 100 / total
		},
	}
}

// parsePages parses each page template with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs()).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 rather than half a page.
func (con *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v *viewer, data map[string]any) {
	t, ok := con.pages[page]
	if !ok {
		http.Error(w, "no such page template: "+page, http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Viewer"] = v
	data["Version"] = con.c.Version
	data["Path"] = r.URL.Path
	data["HasLifecycle"] = con.c.Lifecycle != nil
	data["HasOffers"] = con.c.Offers != nil
	data["HasMatches"] = con.c.Matching != nil
	data["HasAudiences"] = con.c.Audiences != nil
	data["HasComputed"] = con.c.Computed != nil
	data["HasImports"] = con.c.Imports != nil
	con.execute(w, r, status, page, t, "layout", data)
}

// renderFragment executes one template of a page, without the layout: a
// part of the page that kith.js puts in place of what it showed.
func (con *Console) renderFragment(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	t, ok := con.pages[page]
	if !ok || t.Lookup(name) == nil {
		http.Error(w, "no such template: "+page+" "+name, http.StatusInternalServerError)
		return
	}
	con.execute(w, r, status, page, t, name, data)
}

func (con *Console) execute(w http.ResponseWriter, r *http.Request, status int, page string, t *template.Template, name string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		con.log.Error("render console page", "page", page, "template", name, "err", err)
		http.Error(w, "the page could not be drawn; the server log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if start, ok := r.Context().Value(startKey).(time.Time); ok {
		// How long the server took, reads and drawing included, for the
		// browser's developer tools and `kith bench console`.
		w.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.3f", float64(time.Since(start).Microseconds())/1000))
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
