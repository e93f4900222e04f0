// Packages for sectools' tests: one with a gosec finding, one with the same
// finding excused in place.
module example.com/gosecfixture

go 1.24
