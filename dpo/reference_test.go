package dpo

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reference values: testdata/reference.json, written by testdata/reference.py,
// an independent implementation of the formulas of TRL's
// DPOTrainer.dpo_loss, CPOTrainer.cpo_loss and KTOTrainer.kto_loss evaluated
// in mpmath at 60 significant digits (its analytic derivatives cross-checked
// there against mpmath's numerical differentiation).
//
// Tolerance: refTol relative, |got − want| ≤ 1e-9·|want|. A reference value
// below the float64 normal range (|want| < 2^-1022, including exact zeros
// and values that underflow such as e^(−1e6)) instead requires |got| to be
// below that range too; no absolute tolerance applies anywhere else.
const refTol = 1e-9

type refFile struct {
	Source string `json:"source"`
	Pairs  []struct {
		Loss      string             `json:"loss"`
		Params    map[string]float64 `json:"params"`
		Pair      [6]float64         `json:"pair"`
		Value     string             `json:"value"`
		DChosen   string             `json:"d_chosen"`
		DRejected string             `json:"d_rejected"`
		Rewards   [4]string          `json:"rewards"`
	} `json:"pairs"`
	Batches []struct {
		Loss      string             `json:"loss"`
		Params    map[string]float64 `json:"params"`
		Pairs     [][6]float64       `json:"pairs"`
		Value     string             `json:"value"`
		DChosen   []string           `json:"d_chosen"`
		DRejected []string           `json:"d_rejected"`
		Metrics   map[string]string  `json:"metrics"`
	} `json:"batches"`
	KTO []struct {
		Params      map[string]float64 `json:"params"`
		Completions [][3]any           `json:"completions"`
		KLSamples   [][2]float64       `json:"kl_samples"`
		KL          string             `json:"kl"`
		Value       string             `json:"value"`
		D           []string           `json:"d"`
		Metrics     map[string]string  `json:"metrics"`
	} `json:"kto"`
	Soft []struct {
		Loss      string     `json:"loss"`
		Beta      float64    `json:"beta"`
		Prob      float64    `json:"prob"`
		Pair      [6]float64 `json:"pair"`
		Value     string     `json:"value"`
		DChosen   string     `json:"d_chosen"`
		DRejected string     `json:"d_rejected"`
	} `json:"soft"`
	Groups []struct {
		Loss   string         `json:"loss"`
		Params map[string]any `json:"params"`
		Groups []struct {
			Rewards []float64    `json:"rewards"`
			Seqs    [][4]float64 `json:"seqs"`
		} `json:"groups"`
		Advantages []string `json:"advantages"`
		Value      string   `json:"value"`
		DLogP      []string `json:"d_logp"`
	} `json:"groups"`
}

func loadReference(t *testing.T) *refFile {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	require.NoError(t, err)
	var f refFile
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotEmpty(t, f.Pairs)
	return &f
}

func refLoss(t *testing.T, name string, p map[string]float64) Loss {
	t.Helper()
	switch name {
	case "sigmoid":
		return Sigmoid{Beta: p["beta"], LabelSmoothing: p["label_smoothing"]}
	case "robust":
		return Robust{Beta: p["beta"], LabelSmoothing: p["label_smoothing"]}
	case "hinge":
		return Hinge{Beta: p["beta"]}
	case "ipo":
		return IPO{Beta: p["beta"]}
	case "simpo":
		return SimPO{Beta: p["beta"], Gamma: p["gamma"]}
	case "nca":
		return NCA{Beta: p["beta"]}
	}
	t.Fatalf("reference.json names unknown loss %q", name)
	return nil
}

func refPair(v [6]float64) Pair {
	return Pair{Chosen: v[0], Rejected: v[1], RefChosen: v[2], RefRejected: v[3], ChosenLen: int(v[4]), RejectedLen: int(v[5])}
}

// agrees reports whether got matches the reference value want (a decimal
// string) within refTol, as the comment on refTol says.
func agrees(t *testing.T, got float64, want string) bool {
	t.Helper()
	w, err := strconv.ParseFloat(want, 64)
	require.NoError(t, err, "reference value %q", want)
	const tiny = 0x1p-1022
	if math.Abs(w) < tiny {
		return math.Abs(got) < tiny
	}
	return math.Abs(got-w) <= refTol*math.Abs(w)
}

func checkRef(t *testing.T, what string, got float64, want string) {
	t.Helper()
	if !agrees(t, got, want) {
		t.Errorf("%s = %.17g, reference %s (tolerance %g relative)", what, got, want, refTol)
	}
}

func TestLossesAgainstReference(t *testing.T) {
	ref := loadReference(t)
	t.Logf("reference: %s; %d pair cases", ref.Source, len(ref.Pairs))
	for _, c := range ref.Pairs {
		l := refLoss(t, c.Loss, c.Params)
		p := refPair(c.Pair)
		name := fmt.Sprintf("%#v on %+v", l, p)
		require.NoError(t, Validate(l, []Pair{p}), name)
		v, dc, dr := l.Eval(p)
		checkRef(t, name+": loss", v, c.Value)
		checkRef(t, name+": dChosen", dc, c.DChosen)
		checkRef(t, name+": dRejected", dr, c.DRejected)
		rc, rr, lc, lr := l.(Rewarder).Rewards(p)
		for i, got := range [4]float64{rc, rr, lc, lr} {
			checkRef(t, fmt.Sprintf("%s: Rewards()[%d]", name, i), got, c.Rewards[i])
		}
	}
}

func TestEvalBatchAgainstReference(t *testing.T) {
	ref := loadReference(t)
	require.NotEmpty(t, ref.Batches)
	for _, c := range ref.Batches {
		l := refLoss(t, c.Loss, c.Params)
		pairs := make([]Pair, len(c.Pairs))
		for i, v := range c.Pairs {
			pairs[i] = refPair(v)
		}
		r, err := EvalBatch(l, pairs)
		require.NoError(t, err)
		name := fmt.Sprintf("%#v", l)
		assert.Equal(t, len(pairs), r.Pairs, name)
		checkRef(t, name+": mean loss", r.Loss, c.Value)
		require.Len(t, r.DChosen, len(pairs))
		require.Len(t, r.DRejected, len(pairs))
		for i := range pairs {
			checkRef(t, fmt.Sprintf("%s: DChosen[%d]", name, i), r.DChosen[i], c.DChosen[i])
			checkRef(t, fmt.Sprintf("%s: DRejected[%d]", name, i), r.DRejected[i], c.DRejected[i])
		}
		m := r.Map()
		for k, want := range c.Metrics {
			got, ok := m[k]
			require.True(t, ok, "metric %s missing from Map", k)
			checkRef(t, name+": "+k, got, want)
		}
	}
}

func TestKTOAgainstReference(t *testing.T) {
	ref := loadReference(t)
	require.NotEmpty(t, ref.KTO)
	for _, c := range ref.KTO {
		k := KTO{Beta: c.Params["beta"], DesirableWeight: c.Params["desirable_weight"], UndesirableWeight: c.Params["undesirable_weight"]}
		var lp, rp []float64
		for _, s := range c.KLSamples {
			lp, rp = append(lp, s[0]), append(rp, s[1])
		}
		kl, err := KLEstimate(lp, rp)
		require.NoError(t, err)
		name := fmt.Sprintf("%#v", k)
		checkRef(t, name+": KL", kl, c.KL)
		xs := make([]Unpaired, len(c.Completions))
		for i, v := range c.Completions {
			xs[i] = Unpaired{LogP: v[0].(float64), RefLogP: v[1].(float64), Desirable: v[2].(bool)}
		}
		var r KTOResult
		require.NoError(t, r.Eval(k, xs, kl))
		checkRef(t, name+": mean loss", r.Loss, c.Value)
		require.Len(t, r.D, len(xs))
		for i := range xs {
			checkRef(t, fmt.Sprintf("%s: D[%d]", name, i), r.D[i], c.D[i])
		}
		m := r.Map()
		for key, want := range c.Metrics {
			checkRef(t, name+": "+key, m[key], want)
		}
	}
}
