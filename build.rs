fn main() {
    slint_build::compile("ui/main.slint").expect("Slint UI failed to compile");
}
