// A module for sectools' tests: golang.org/x/text v0.3.6 is affected by
// GO-2021-0113 (language.Parse and others).
module example.com/vulnfixture

go 1.24

require golang.org/x/text v0.3.6
