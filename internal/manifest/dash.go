package manifest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parts of an MPD (ISO/IEC 23009-1) that name files. encoding/xml
// matches these names in any namespace.
type mpdXML struct {
	XMLName  xml.Name    `xml:"MPD"`
	Type     string      `xml:"type,attr"`
	Duration string      `xml:"mediaPresentationDuration,attr"`
	BaseURLs []string    `xml:"BaseURL"`
	Periods  []periodXML `xml:"Period"`
}

type segmentInfo struct {
	BaseURLs        []string     `xml:"BaseURL"`
	SegmentTemplate *templateXML `xml:"SegmentTemplate"`
	SegmentList     *listXML     `xml:"SegmentList"`
	SegmentBase     *baseXML     `xml:"SegmentBase"`
}

type periodXML struct {
	Start    string `xml:"start,attr"`
	Duration string `xml:"duration,attr"`
	segmentInfo
	AdaptationSets []adaptationXML `xml:"AdaptationSet"`
}

type adaptationXML struct {
	ContentType string `xml:"contentType,attr"`
	MimeType    string `xml:"mimeType,attr"`
	Codecs      string `xml:"codecs,attr"`
	segmentInfo
	Representations []representationXML `xml:"Representation"`
}

type representationXML struct {
	ID        string `xml:"id,attr"`
	Bandwidth string `xml:"bandwidth,attr"`
	MimeType  string `xml:"mimeType,attr"`
	Codecs    string `xml:"codecs,attr"`
	segmentInfo
}

type urlXML struct {
	SourceURL *string `xml:"sourceURL,attr"`
}

// multipleXML holds what SegmentTemplate and SegmentList share.
type multipleXML struct {
	Timescale              *string      `xml:"timescale,attr"`
	Duration               *string      `xml:"duration,attr"`
	StartNumber            *string      `xml:"startNumber,attr"`
	EndNumber              *string      `xml:"endNumber,attr"`
	PresentationTimeOffset *string      `xml:"presentationTimeOffset,attr"`
	Initialization         *urlXML      `xml:"Initialization"`
	RepresentationIndex    *urlXML      `xml:"RepresentationIndex"`
	Timeline               *timelineXML `xml:"SegmentTimeline"`
}

type templateXML struct {
	Media             *string `xml:"media,attr"`
	InitializationTpl *string `xml:"initialization,attr"`
	Index             *string `xml:"index,attr"`
	multipleXML
}

type listXML struct {
	multipleXML
	SegmentURLs []struct {
		Media *string `xml:"media,attr"`
		Index *string `xml:"index,attr"`
	} `xml:"SegmentURL"`
}

type baseXML struct {
	Initialization      *urlXML `xml:"Initialization"`
	RepresentationIndex *urlXML `xml:"RepresentationIndex"`
}

type timelineXML struct {
	S []struct {
		T *string `xml:"t,attr"`
		D string  `xml:"d,attr"`
		R string  `xml:"r,attr"`
	} `xml:"S"`
}

// parseMPD reads an MPD for the files it names, as URIs relative to the
// MPD (or absolute). Each segment expanded from a template or a timeline
// spends one of *budget.
func parseMPD(name string, data []byte, budget *int) ([]ref, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var m mpdXML
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = charsetReader
	if err := d.Decode(&m); err != nil {
		return nil, &SyntaxError{File: name, Msg: "is not a DASH MPD: " + err.Error()}
	}
	p := &mpdParser{name: name, budget: budget}
	total, err := p.duration("mediaPresentationDuration", m.Duration)
	if err != nil {
		return nil, err
	}
	base := firstBase(name, m.BaseURLs)
	for i, per := range m.Periods {
		start, err := p.duration("Period@start", per.Start)
		if err != nil {
			return nil, err
		}
		length, err := p.duration("Period@duration", per.Duration)
		if err != nil {
			return nil, err
		}
		if length < 0 {
			switch {
			case i+1 < len(m.Periods) && m.Periods[i+1].Start != "":
				next, err := p.duration("Period@start", m.Periods[i+1].Start)
				if err != nil {
					return nil, err
				}
				length = next - start
			case total >= 0 && i+1 == len(m.Periods):
				length = total - max(start, 0)
			}
		}
		p.periodSeconds = length
		pbase := firstBase(base, per.BaseURLs)
		for _, as := range per.AdaptationSets {
			abase := firstBase(pbase, as.BaseURLs)
			for _, rep := range as.Representations {
				rbase := firstBase(abase, rep.BaseURLs)
				text := isText(as.ContentType, as.MimeType, as.Codecs) || isText("", rep.MimeType, rep.Codecs)
				if err := p.representation(rep, rbase, len(rep.BaseURLs) > 0 || len(as.BaseURLs) > 0 || len(per.BaseURLs) > 0 || len(m.BaseURLs) > 0, text,
					[]segmentInfo{per.segmentInfo, as.segmentInfo, rep.segmentInfo}); err != nil {
					return nil, err
				}
			}
		}
	}
	return p.refs, nil
}

type mpdParser struct {
	name          string
	budget        *int
	periodSeconds float64 // -1 when unknown
	refs          []ref
}

func (p *mpdParser) add(uri string, role Role) {
	p.refs = append(p.refs, ref{uri: uri, role: role})
}

func (p *mpdParser) spend() error {
	if *p.budget--; *p.budget < 0 {
		return &SyntaxError{File: p.name, Msg: "names more segments than a package may hold", Err: ErrTooMany}
	}
	return nil
}

func (p *mpdParser) errorf(format string, args ...any) error {
	return &SyntaxError{File: p.name, Msg: fmt.Sprintf(format, args...)}
}

// representation adds the files of one Representation. levels are the
// Period's, AdaptationSet's and Representation's own segment information,
// each inheriting from the one before.
func (p *mpdParser) representation(rep representationXML, base string, hasBase, text bool, levels []segmentInfo) error {
	mediaRole := RoleSegment
	if text {
		mediaRole = RoleSubtitle
	}
	var tpl *templateXML
	var list *listXML
	var sbase *baseXML
	for _, l := range levels {
		if l.SegmentTemplate != nil {
			tpl = mergeTemplate(tpl, l.SegmentTemplate)
		}
		if l.SegmentList != nil {
			list = l.SegmentList
		}
		if l.SegmentBase != nil {
			sbase = l.SegmentBase
		}
	}
	// The Representation's own choice wins over an inherited one.
	own := levels[len(levels)-1]
	switch {
	case own.SegmentList != nil:
		tpl = nil
	case own.SegmentTemplate != nil:
		list = nil
	}
	vars := templateVars{id: rep.ID, bandwidth: rep.Bandwidth}
	switch {
	case tpl != nil:
		return p.template(tpl, base, vars, mediaRole)
	case list != nil:
		if u := list.Initialization; u != nil && u.SourceURL != nil {
			p.add(joinURI(base, *u.SourceURL), RoleInit)
		}
		if u := list.RepresentationIndex; u != nil && u.SourceURL != nil {
			p.add(joinURI(base, *u.SourceURL), RoleInit)
		}
		usesBase := false
		for _, s := range list.SegmentURLs {
			if err := p.spend(); err != nil {
				return err
			}
			if s.Media != nil && *s.Media != "" {
				p.add(joinURI(base, *s.Media), mediaRole)
			} else {
				usesBase = true // a byte range of the BaseURL's file
			}
			if s.Index != nil && *s.Index != "" {
				p.add(joinURI(base, *s.Index), RoleInit)
			}
		}
		if usesBase && hasBase {
			p.add(base, mediaRole)
		}
		return nil
	}
	if sbase != nil {
		if u := sbase.Initialization; u != nil && u.SourceURL != nil {
			p.add(joinURI(base, *u.SourceURL), RoleInit)
		}
		if u := sbase.RepresentationIndex; u != nil && u.SourceURL != nil {
			p.add(joinURI(base, *u.SourceURL), RoleInit)
		}
	}
	// SegmentBase or nothing: the BaseURL is the media file itself.
	if hasBase {
		p.add(base, mediaRole)
	}
	return nil
}

// mergeTemplate returns child over parent: an attribute or element the
// child has replaces the parent's.
func mergeTemplate(parent, child *templateXML) *templateXML {
	if parent == nil {
		return child
	}
	m := *parent
	pick := func(dst **string, src *string) {
		if src != nil {
			*dst = src
		}
	}
	pick(&m.Media, child.Media)
	pick(&m.InitializationTpl, child.InitializationTpl)
	pick(&m.Index, child.Index)
	pick(&m.Timescale, child.Timescale)
	pick(&m.Duration, child.Duration)
	pick(&m.StartNumber, child.StartNumber)
	pick(&m.EndNumber, child.EndNumber)
	pick(&m.PresentationTimeOffset, child.PresentationTimeOffset)
	if child.Initialization != nil {
		m.Initialization = child.Initialization
	}
	if child.RepresentationIndex != nil {
		m.RepresentationIndex = child.RepresentationIndex
	}
	if child.Timeline != nil {
		m.Timeline = child.Timeline
	}
	return &m
}

func (p *mpdParser) template(t *templateXML, base string, vars templateVars, mediaRole Role) error {
	if t.InitializationTpl != nil {
		uri, err := p.expand(*t.InitializationTpl, vars)
		if err != nil {
			return err
		}
		p.add(joinURI(base, uri), RoleInit)
	} else if t.Initialization != nil && t.Initialization.SourceURL != nil {
		p.add(joinURI(base, *t.Initialization.SourceURL), RoleInit)
	}
	if t.Index != nil {
		// An index template may name one file per segment; those are
		// expanded with the media below.
		if !strings.Contains(*t.Index, "$Number") && !strings.Contains(*t.Index, "$Time") {
			uri, err := p.expand(*t.Index, vars)
			if err != nil {
				return err
			}
			p.add(joinURI(base, uri), RoleInit)
		}
	}
	if t.Media == nil {
		return nil
	}
	timescale, err := p.uint("timescale", t.Timescale, 1)
	if err != nil {
		return err
	}
	if timescale == 0 {
		return p.errorf("SegmentTemplate@timescale is 0")
	}
	start, err := p.uint("startNumber", t.StartNumber, 1)
	if err != nil {
		return err
	}
	pto, err := p.uint("presentationTimeOffset", t.PresentationTimeOffset, 0)
	if err != nil {
		return err
	}
	emit := func(number, time uint64) error {
		if err := p.spend(); err != nil {
			return err
		}
		v := vars
		v.number, v.time = number, time
		uri, err := p.expand(*t.Media, v)
		if err != nil {
			return err
		}
		p.add(joinURI(base, uri), mediaRole)
		if t.Index != nil && (strings.Contains(*t.Index, "$Number") || strings.Contains(*t.Index, "$Time")) {
			uri, err := p.expand(*t.Index, v)
			if err != nil {
				return err
			}
			p.add(joinURI(base, uri), RoleInit)
		}
		return nil
	}
	if t.Timeline != nil {
		end := uint64(math.MaxUint64)
		if p.periodSeconds >= 0 {
			end = pto + uint64(math.Ceil(p.periodSeconds*float64(timescale)))
		}
		number := start
		var now uint64
		for i, s := range t.Timeline.S {
			if s.T != nil {
				if now, err = p.uint("S@t", s.T, 0); err != nil {
					return err
				}
			}
			d, err := p.uint("S@d", &s.D, 0)
			if err != nil {
				return err
			}
			if d == 0 {
				return p.errorf("SegmentTimeline has an S with no duration")
			}
			r, err := strconv.ParseInt(strings.TrimSpace(orDefault(s.R, "0")), 10, 64)
			if err != nil {
				return p.errorf("S@r %q is not a number", s.R)
			}
			count := uint64(r) + 1
			if r < 0 {
				until := end
				if i+1 < len(t.Timeline.S) && t.Timeline.S[i+1].T != nil {
					if until, err = p.uint("S@t", t.Timeline.S[i+1].T, 0); err != nil {
						return err
					}
				}
				if until == math.MaxUint64 {
					return &SyntaxError{File: p.name, Msg: "a SegmentTimeline repeats without end (a live MPD); only finished presentations are packages", Err: ErrUnbounded}
				}
				if until <= now {
					count = 0
				} else {
					count = (until - now + d - 1) / d
				}
			}
			for range count {
				if err := emit(number, now); err != nil {
					return err
				}
				number++
				now += d
			}
		}
		return nil
	}
	if !strings.Contains(*t.Media, "$Number") {
		if strings.Contains(*t.Media, "$Time") {
			return p.errorf("SegmentTemplate@media uses $Time$ without a SegmentTimeline")
		}
		return emit(start, 0) // one file
	}
	var count uint64
	if t.EndNumber != nil {
		endNumber, err := p.uint("endNumber", t.EndNumber, 0)
		if err != nil {
			return err
		}
		if endNumber >= start {
			count = endNumber - start + 1
		}
	} else {
		dur, err := p.uint("SegmentTemplate@duration", t.Duration, 0)
		if err != nil {
			return err
		}
		if dur == 0 {
			return p.errorf("SegmentTemplate has $Number$ but neither a duration nor a SegmentTimeline")
		}
		if p.periodSeconds < 0 {
			return &SyntaxError{File: p.name, Msg: "the Period's length is unknown (a live MPD); only finished presentations are packages", Err: ErrUnbounded}
		}
		c := math.Ceil(p.periodSeconds*float64(timescale)/float64(dur) - 1e-9)
		if c > float64(*p.budget)+1 {
			return &SyntaxError{File: p.name, Msg: "names more segments than a package may hold", Err: ErrTooMany}
		}
		count = uint64(max(c, 0))
	}
	if count > uint64(*p.budget)+1 {
		return &SyntaxError{File: p.name, Msg: "names more segments than a package may hold", Err: ErrTooMany}
	}
	for i := range count {
		if err := emit(start+i, 0); err != nil {
			return err
		}
	}
	return nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func (p *mpdParser) uint(what string, s *string, def uint64) (uint64, error) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(strings.TrimSpace(*s), 10, 64)
	if err != nil {
		return 0, p.errorf("%s %q is not a whole number", what, *s)
	}
	return v, nil
}

// duration reads an xs:duration in seconds; -1 when s is empty.
func (p *mpdParser) duration(what, s string) (float64, error) {
	if strings.TrimSpace(s) == "" {
		return -1, nil
	}
	v, ok := parseDuration(strings.TrimSpace(s))
	if !ok {
		return 0, p.errorf("%s %q is not a duration", what, s)
	}
	return v, nil
}

// parseDuration reads an ISO 8601 duration of the form xs:duration takes in
// MPDs (PnYnMnDTnHnMnS, no sign); years and months count 365 and 30 days.
func parseDuration(s string) (float64, bool) {
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, false
	}
	s = s[1:]
	var total float64
	inTime := false
	units := map[bool]map[byte]float64{
		false: {'Y': 365 * 86400, 'M': 30 * 86400, 'W': 7 * 86400, 'D': 86400},
		true:  {'H': 3600, 'M': 60, 'S': 1},
	}
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return 0, false
			}
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, false
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		mult, ok := units[inTime][s[i]]
		if !ok {
			return 0, false
		}
		total += n * mult
		s = s[i+1:]
	}
	if math.IsInf(total, 0) || math.IsNaN(total) {
		return 0, false
	}
	return total, true
}

// firstBase resolves the first BaseURL that names a file in the folder (a
// relative one) against base; when every BaseURL is absolute, the first.
func firstBase(base string, urls []string) string {
	if len(urls) == 0 {
		return base
	}
	pick := urls[0]
	for _, u := range urls {
		if pu, err := url.Parse(strings.TrimSpace(u)); err == nil && pu.Scheme == "" && pu.Host == "" {
			pick = u
			break
		}
	}
	return joinURI(base, pick)
}

func isText(contentType, mimeType, codecs string) bool {
	mt := strings.ToLower(mimeType)
	c := strings.ToLower(codecs)
	return contentType == "text" || strings.HasPrefix(mt, "text/") || strings.HasPrefix(mt, "application/ttml") ||
		strings.HasPrefix(c, "stpp") || strings.HasPrefix(c, "wvtt")
}

type templateVars struct {
	id, bandwidth string
	number, time  uint64
}

// expand fills a SegmentTemplate's identifiers (ISO/IEC 23009-1,
// 5.3.9.4.4): $RepresentationID$, $Number$, $Time$, $Bandwidth$, each of
// the numeric ones with an optional %0Nd (or x, X, o) format, and $$.
func (p *mpdParser) expand(tpl string, v templateVars) (string, error) {
	if !strings.Contains(tpl, "$") {
		return tpl, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tpl, '$')
		if i < 0 {
			b.WriteString(tpl)
			return b.String(), nil
		}
		b.WriteString(tpl[:i])
		tpl = tpl[i+1:]
		j := strings.IndexByte(tpl, '$')
		if j < 0 {
			return "", p.errorf("SegmentTemplate %q has an unclosed $", tpl)
		}
		ident := tpl[:j]
		tpl = tpl[j+1:]
		if ident == "" {
			b.WriteByte('$')
			continue
		}
		name, format, _ := strings.Cut(ident, "%")
		var num uint64
		switch name {
		case "RepresentationID":
			if format != "" {
				return "", p.errorf("$RepresentationID$ takes no format")
			}
			b.WriteString(v.id)
			continue
		case "Number":
			num = v.number
		case "Time":
			num = v.time
		case "Bandwidth":
			n, err := strconv.ParseUint(strings.TrimSpace(v.bandwidth), 10, 64)
			if err != nil {
				return "", p.errorf("Representation@bandwidth %q is not a whole number", v.bandwidth)
			}
			num = n
		case "SubNumber":
			num = 1
		default:
			return "", p.errorf("SegmentTemplate has an unknown identifier $%s$", ident)
		}
		if format == "" {
			b.WriteString(strconv.FormatUint(num, 10))
			continue
		}
		s, err := formatNumber(format, num)
		if err != nil {
			return "", p.errorf("SegmentTemplate format %%%s: %v", format, err)
		}
		b.WriteString(s)
	}
}

// formatNumber applies a printf width tag (0Nd, Nd, d, x, X, o).
func formatNumber(format string, n uint64) (string, error) {
	if format == "" {
		return "", fmt.Errorf("empty")
	}
	verb := format[len(format)-1]
	var s string
	switch verb {
	case 'd', 'i', 'u':
		s = strconv.FormatUint(n, 10)
	case 'x':
		s = strconv.FormatUint(n, 16)
	case 'X':
		s = strings.ToUpper(strconv.FormatUint(n, 16))
	case 'o':
		s = strconv.FormatUint(n, 8)
	default:
		return "", fmt.Errorf("not a number format")
	}
	w := format[:len(format)-1]
	pad := " "
	if strings.HasPrefix(w, "0") {
		pad = "0"
	}
	width := 0
	if w != "" {
		var err error
		if width, err = strconv.Atoi(w); err != nil || width > 32 || width < 0 {
			return "", fmt.Errorf("bad width")
		}
	}
	if len(s) < width {
		s = strings.Repeat(pad, width-len(s)) + s
	}
	return s, nil
}

// charsetReader lets an MPD declare ISO-8859-1 or US-ASCII as well as UTF-8.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "latin1", "latin-1":
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(data))
		for _, c := range data {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}
