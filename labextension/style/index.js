import 'quill/dist/quill.snow.css';
import './base.css';
import './history.css';
