package typednil_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/selfalign/selfalign/internal/typednil"
)

type (
	ptrT   struct{ x int }
	mapT   map[string]int
	funcT  func()
	sliceT []int
	valT   struct{}
)

func (*ptrT) M()  {}
func (mapT) M()   {}
func (funcT) M()  {}
func (sliceT) M() {}
func (valT) M()   {}

type m interface{ M() }

func TestIs(t *testing.T) {
	for name, tc := range map[string]struct {
		v    m
		want bool
	}{
		"nil interface":   {nil, false},
		"nil pointer":     {(*ptrT)(nil), true},
		"pointer":         {&ptrT{}, false},
		"nil map":         {mapT(nil), true},
		"map":             {mapT{}, false},
		"nil func":        {funcT(nil), true},
		"func":            {funcT(func() {}), false},
		"nil slice works": {sliceT(nil), false},
		"value":           {valT{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			var v any
			if tc.v != nil {
				v = tc.v
			}
			assert.Equal(t, tc.want, typednil.Is(v))
		})
	}
}
