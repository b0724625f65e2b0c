package controllers

import "github.com/flarecast/flarecast/internal/model"

// Reasons of a failing condition whose problems break more than one rule. A single rule's
// reason is the model's own (model.Reason); these name the mix, and the message lists it.
const (
	// ReasonMultipleProblems: Valid is False for problems of more than one rule.
	ReasonMultipleProblems = "MultipleProblems"
	// ReasonMultipleMissing: ModelComplete is False for more than one kind of missing part.
	ReasonMultipleMissing = "MultipleMissing"
)

// reasonOf picks a failing condition's reason: the rule that every problem breaks when there
// is one, so `kubectl get -o wide` says what is wrong without the message; several otherwise.
// problems must not be empty.
func reasonOf(problems []model.Problem, several string) string {
	first := problems[0].Reason
	for _, p := range problems[1:] {
		if p.Reason != first {
			return several
		}
	}
	return string(first)
}
