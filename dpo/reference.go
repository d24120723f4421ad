package dpo

import (
	"fmt"
	"reflect"
)

// ReferenceFixed reports whether the trainer's loss is anchored to a fixed
// reference policy (TrainerOptions.Reference) rather than to the policy at
// the start of each Train call. Recipes that need the one or the other
// (recipe.OnlineDPO: OAIF's reference is the initial model) ask for it.
//
// A fixed reference must not be the model being trained, which Train
// changes in place: pass a Snapshot of the initial model.
func (t *Trainer) ReferenceFixed() bool { return t.o.Reference != nil }

// Steps returns the number of optimiser steps a Train call on pairs pairs
// takes: Epochs passes of ⌈pairs/BatchSize⌉ minibatches, 0 for no pairs.
// OAIF (recipe.OnlineDPO) takes one step per batch of prompts.
func (t *Trainer) Steps(pairs int) int {
	if pairs <= 0 {
		return 0
	}
	return t.o.Epochs * ((pairs + t.o.BatchSize - 1) / t.o.BatchSize)
}

// checkReference refuses a fixed Reference that is the model being
// trained: Train changes it in place, so it would move with the policy,
// which is the default (nil) behaviour under a misleading name. Only
// pointers are compared, as other kinds of Model cannot be the same
// object.
func checkReference(ref, m Model) error {
	if ref == nil || m == nil {
		return nil
	}
	a, b := reflect.ValueOf(ref), reflect.ValueOf(m)
	if a.Kind() == reflect.Pointer && b.Kind() == reflect.Pointer && a.Type() == b.Type() && a.Pointer() == b.Pointer() {
		return fmt.Errorf("%w: train: TrainerOptions.Reference is the model being trained, which training changes in place; pass a Snapshot of it", ErrInvalid)
	}
	return nil
}
