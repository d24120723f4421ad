// Package dpo turns preference pairs into a better policy inside the Go
// process: DPO-family losses with exact gradients, the metrics TRL logs, and
// a Trainer that fits any differentiable Model to the pairs a Loop produces;
// and, for the RL paradigm, GRPO and RLOO with a GroupTrainer that fits a
// Model to scored groups of responses.
//
// # Losses
//
// A Loss maps one Pair — the summed completion log-probabilities of the
// chosen and rejected responses under the policy and the reference, with
// their lengths — to a loss and its derivatives with respect to the two
// policy log-probabilities. The package has the losses of TRL's DPOTrainer
// (Sigmoid, with cDPO label smoothing; Robust; Hinge; IPO; NCA) and of its
// CPOTrainer (SimPO), each computed as TRL computes it, and KTO for unpaired
// completions, whose KL reference point couples a batch and so has a batch
// API of its own (KTOResult). A pair may carry its own soft label
// (Pair.Prob, the probability that the chosen response is preferred, such
// as a pairwise judge's); Sigmoid and Robust (SoftLabeler losses) then use
// ε = 1 − Prob for that pair, and the other losses refuse anything but a
// hard label.
//
// # Batches and metrics
//
// EvalBatch and BatchResult.Eval validate a loss and a batch, then return the
// mean loss, the derivatives of the mean with respect to every pair's
// log-probabilities, and TRL's metrics (rewards/chosen, rewards/rejected,
// rewards/accuracies, rewards/margins, logps/chosen, logps/rejected). Invalid
// input — a NaN, an infinity, a positive log-probability, a length below 1
// for a loss that averages per token, a parameter out of range — is a
// *PairError or an error wrapping ErrInvalid, never a NaN loss. Loss.Eval
// itself does not check, which keeps it fast; it is meant to be reached
// through the batch functions.
//
// # Numerics
//
// Every loss is computed in float64 with a log-sigmoid and sigmoid that never
// exponentiate a positive number, so that |βh| of 1e4, 1e6 and beyond gives
// finite losses and gradients, with the exponential tails kept to full
// relative precision until they underflow. The tests check each loss and
// its gradient against central finite differences and against values that
// testdata/reference.py computes with mpmath at 60 digits from TRL's
// formulas, to 1e-9 relative.
//
// # Training
//
// A Trainer implements alignment.Trainer and alignment.Checkpointer for any
// Model: it computes the reference log-probabilities once per Train call,
// then runs epochs of shuffled minibatches, accumulating the gradient of the
// mean loss through Model.AccumulateGrad and stepping Adam with global-norm
// gradient clipping. It keeps a Report of the loss and metrics of each epoch.
// It also implements alignment.SFTTrainer: TrainSFT fine-tunes a Model on
// (prompt, completion) examples by per-token cross-entropy with the same
// optimiser settings, the supervised stage of SL-CAI and of SynPO's
// improver.
//
// # Group policy gradients
//
// A GroupTrainer implements alignment.GroupTrainer, alignment.Trainer (a
// pair is a group of two) and alignment.Checkpointer for any Model: it learns from all the scored responses to each prompt
// (alignment.Group) with a GroupLoss, GRPO (group-normalised advantages,
// clipped importance ratio, k3 KL to a reference) or RLOO (leave-one-out
// baseline, KL in the reward), each as TRL's GRPOTrainer and RLOOTrainer
// compute them on summed log-probabilities and checked like the losses
// above. Rewards are the judges' scores or a weighted sum of their aspects;
// a group of one or of equal rewards is skipped and counted, and a NaN or
// infinite reward is a *GroupError naming the group, prompt and response.
// Like TRL's GRPOTrainer it makes only the forward passes whose results it
// reads: with one step per call and β = 0 (GRPO's default and TRL's), none
// but the step's own.
package dpo
