fn main() {
    println!("mixtune-app: the desktop shell arrives with the app issue; use the `mixtune` CLI");
}
