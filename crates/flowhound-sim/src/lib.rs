//! Labelled VPC flow-log scenarios (legitimate traffic, look-alikes and attacks) and
//! the evaluation of findings against their labels.
