// Package tinylm is a small word-level neural language model in Go, without cgo:
// the embedded default policy of selfalign, which a run can sample, score
// and train with DPO without network, weights or GPU.
//
// # Model
//
// A [Model] reads the previous Context tokens (default 8), concatenates their
// embeddings (default width 32), applies one tanh layer (default width 128)
// and a softmax over the vocabulary: the multilayer-perceptron language
// model of Bengio et al. (2003), and the architecture of the PyTorch peer
// /work/shared/bench/torch_tinylm_step.py that its benchmarks are timed
// against. [New] draws the weights from a seed; [Model.Fit] trains by
// supervised fine-tuning (cross-entropy of completions given prompts, Adam);
// [Model.Perplexity] measures held-out examples.
//
// # Tokens
//
// A [Tokenizer] is built from a corpus by [NewTokenizer]: lower-cased words
// and single punctuation marks, unknown words mapped to <unk>, and the
// special tokens <bos> (start and left padding), <sep> (between prompt and
// completion), <eos> (end of completion) and the role markers <system> and
// <assistant>. A completion is scored as the tokens of
//
//	<bos> prompt <sep> completion <eos>
//
// after <sep>, <eos> included. The Tokenizer documentation gives the exact
// rules.
//
// # Capabilities
//
// A Model is an [alignment.Policy] (sampling with temperature, top-p, stop
// strings, a token cap and a seed; responses carry their log-probabilities),
// an [alignment.Scorer], and a [dpo.Model]: exact log-probabilities, exact
// gradients by backpropagation, parameters for an optimizer and snapshots
// for a frozen reference. [Model.AccumulateGradFunc] fuses the forward pass
// of LogProbs with the backward pass of AccumulateGrad, as a DPO step needs.
// [Model.Save] and [Load] write and read checksummed checkpoints; a corrupt
// or inconsistent one is an error wrapping [ErrCheckpoint].
//
// # Speed
//
// Every call batches all token positions of all its sequences into float32
// matrix products, run by an 8×32 AVX-512 micro-kernel in Go assembly on
// amd64 CPUs that have AVX-512, a 6×16 AVX2/FMA one on those that have only
// AVX2 (no cgo), and portable Go elsewhere or with the purego build tag,
// split over the available cores when large; single rows, as in sampling,
// take one-row kernels. The two assembly kernels give the same bits, on any
// number of cores; the portable one agrees with them to float32 rounding.
// The benchmarks are named with their dimensions so the PyTorch peer can be
// run with the same ones.
//
// The split runs on up to GOMAXPROCS−1 helper goroutines shared by all the
// models of a process, started at the first large product and kept for its
// life (a goroutine-leak check in a test sees them). After its last piece
// of work a helper keeps polling for the next for up to a millisecond,
// yielding to other goroutines as it does, then sleeps: the products of a
// training step follow each other faster than an idle core wakes. One
// caller uses the helpers at a time; another, meanwhile, runs its products
// on its own goroutine.
package tinylm
