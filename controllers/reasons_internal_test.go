package controllers

import (
	"testing"

	"github.com/flarecast/flarecast/internal/model"
)

func TestConditionReasonIsTheRuleOrSeveral(t *testing.T) {
	p := func(r model.Reason, name string) model.Problem {
		return model.Problem{Kind: model.KindNodesGroup, Name: name, Reason: r, Message: "m"}
	}
	cases := []struct {
		name     string
		problems []model.Problem
		want     string
	}{
		{"one problem", []model.Problem{p(model.ReasonDrawerInUse, "a")}, "DrawerInUse"},
		{"one rule on two objects", []model.Problem{p(model.ReasonDuplicateNodeID, "a"), p(model.ReasonDuplicateNodeID, "b")}, "DuplicateNodeID"},
		{"two rules", []model.Problem{p(model.ReasonDuplicateNodeID, "a"), p(model.ReasonArchMismatch, "a")}, ReasonMultipleProblems},
		{"the same rule after another", []model.Problem{p(model.ReasonArchMismatch, "a"), p(model.ReasonDrawerInUse, "a"), p(model.ReasonArchMismatch, "b")}, ReasonMultipleProblems},
	}
	for _, tc := range cases {
		if got := reasonOf(tc.problems, ReasonMultipleProblems); got != tc.want {
			t.Errorf("%s: reason %s, want %s", tc.name, got, tc.want)
		}
	}
	missing := []model.Problem{p(model.ReasonNetworkNotFound, "edge"), p(model.ReasonNoNodesGroups, "edge")}
	if got := reasonOf(missing, ReasonMultipleMissing); got != ReasonMultipleMissing {
		t.Errorf("two missing parts: reason %s", got)
	}
}
