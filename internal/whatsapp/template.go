package whatsapp

import (
	"encoding/json"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// template reads the four template fields. The shape decides, not the
// field: Meta's own quality-update example arrives as
// message_template_status_update carrying new_quality_score.
func (p *parser) template(c *change) error {
	var v templateValue
	if err := json.Unmarshal(c.value, &v); err != nil {
		return err
	}
	var e event.Event
	switch {
	case v.NewQualityScore != "":
		e = p.templateQuality(c, &v)
	case v.Event != "":
		e = p.templateStatus(c, &v)
	case v.NewCategory != "" || v.CorrectCategory != "" || v.PreviousCategory != "":
		e = p.templateCategory(c, &v)
	case v.Element != "" || v.Title != "" || v.Footer != "" || len(v.Buttons) > 0 ||
		c.field == "message_template_components_update":
		e = p.base(c, event.KindTemplate, "components_update")
		e.Severity = event.SeverityInfo
	default:
		return nil // nothing recognizable: the caller keeps it as unknown
	}
	setAttr(&e, "template_name", v.TemplateName)
	setAttr(&e, "template_id", v.TemplateID)
	setAttr(&e, "template_language", v.TemplateLang)
	setAttr(&e, "template_category", v.TemplateCat)
	e.ID = c.contentID("")
	p.out = append(p.out, e)
	return nil
}

func (p *parser) templateStatus(c *change, v *templateValue) event.Event {
	st := lower(v.Event)
	e := p.base(c, event.KindTemplate, st)
	setAttr(&e, "reason", v.Reason)
	if r := v.RejectionInfo; r != nil {
		setAttr(&e, "rejection_reason", r.Reason)
		setAttr(&e, "rejection_recommendation", r.Recommendation)
		e.Message = r.Reason.String()
		e.Details = r.Recommendation.String()
	}
	if o := v.OtherInfo; o != nil {
		setAttr(&e, "pause_title", o.Title)
		setAttr(&e, "pause_description", o.Description)
		if e.Message == "" {
			e.Message = o.Description.String()
		}
	}
	if d := v.DisableInfo; d != nil {
		if t, ok := unixTime(d.DisableDate.String()); ok {
			e.SetAttr("disable_date", t.Format(time.RFC3339))
		} else {
			setAttr(&e, "disable_date", d.DisableDate)
		}
	}
	// The pause title (first_pause, second_pause ...) or the reason tells
	// outcomes of one event apart, for the catalogue's guidance.
	switch {
	case v.OtherInfo != nil && v.OtherInfo.Title != "":
		e.SetAttr(AttrState, lower(v.OtherInfo.Title))
	case lower(v.Reason) != "none":
		e.SetAttr(AttrState, lower(v.Reason))
	}
	switch st {
	case "rejected", "paused", "disabled":
		e.Severity = event.SeverityTemplate
	case "flagged", "pending_deletion", "limit_exceeded", "locked":
		e.Severity = event.SeverityWarning
	default:
		e.Severity = event.SeverityInfo
	}
	return e
}

func (p *parser) templateQuality(c *change, v *templateValue) event.Event {
	score := lower(v.NewQualityScore)
	e := p.base(c, event.KindTemplate, score)
	setAttr(&e, "previous_quality", v.PreviousQualityScore)
	setAttr(&e, "new_quality", v.NewQualityScore)
	e.SetAttr(AttrState, score)
	switch score {
	case "red":
		e.Severity = event.SeverityTemplate
	case "yellow":
		e.Severity = event.SeverityWarning
	default:
		e.Severity = event.SeverityInfo
	}
	return e
}

// templateCategory: an impending change names the correct category; a
// completed one names the previous category.
func (p *parser) templateCategory(c *change, v *templateValue) event.Event {
	e := p.base(c, event.KindTemplate, "category_update")
	setAttr(&e, "new_category", v.NewCategory)
	setAttr(&e, "correct_category", v.CorrectCategory)
	setAttr(&e, "previous_category", v.PreviousCategory)
	if t, ok := unixTime(v.CategoryUpdateTimestamp.String()); ok {
		e.SetAttr("category_update_time", t.Format(time.RFC3339))
	}
	if v.PreviousCategory != "" {
		e.SetAttr(AttrState, "completed")
		e.Severity = event.SeverityInfo
	} else {
		e.SetAttr(AttrState, "impending")
		// There is still time to edit or appeal before pricing changes.
		e.Severity = event.SeverityWarning
	}
	return e
}
