// Package typednil finds the nil pointer, map or function hidden in a
// non-nil interface value: (*judge.Rubric)(nil) passed as an
// alignment.Judge compares unequal to nil, and panics only when the Loop
// first calls it, deep inside a run. Configuration is checked with it once,
// before the work starts; it uses reflect, so it does not belong on hot
// paths.
package typednil

import "reflect"

// Is reports whether v is a non-nil interface value whose dynamic value is
// a nil pointer, map or function. A nil interface is not typed nil; nor is
// a nil slice or channel, whose methods can work.
func Is(v any) bool {
	if v == nil {
		return false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
